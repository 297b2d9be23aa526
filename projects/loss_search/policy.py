"""The search policy of PAP and Auto Seg-Loss: an independent truncated normal
on [0, 1] per parameter with a logit-parameterised mean, a sigma schedule and
a PPO-style update of the mean.

All maths is float64 on CPU, so that a search is reproducible bit for bit
(and resumable) on any machine.
"""
import math

import torch

CLIP_MODES = ('sum_clipped_log_ratio', 'per_dimension', 'joint')
LR_SCHEDULES = ('constant', 'warmup_linear', 'round_linear')
SIGMA_SCHEDULES = ('constant', 'linear')


def _ndtri(p):
    return torch.special.ndtri(p)


def logit(p):
    p = torch.as_tensor(p, dtype=torch.float64)
    if ((p <= 0) | (p >= 1)).any():
        raise ValueError(f'the initial mean must lie strictly inside (0, 1) '
                         f'(it is stored as a logit), got {p.tolist()}')
    return torch.log(p) - torch.log1p(-p)


class TruncatedNormal:
    """Independent normal distributions truncated to [0, 1] per dimension.

    Args:
        mean (Tensor): [d] means in [0, 1].
        sigma (float | Tensor): scale(s) >= 0; ``sigma == 0`` is the point
            mass at the mean.
    """

    def __init__(self, mean, sigma):
        self.mean = torch.as_tensor(mean, dtype=torch.float64)
        self.sigma = torch.as_tensor(sigma, dtype=torch.float64).expand_as(
            self.mean)
        if (self.sigma < 0).any():
            raise ValueError(f'sigma must be >= 0, got {self.sigma.tolist()}')

    def _bounds(self):
        s = self.sigma.clamp_min(1e-300)
        return (0 - self.mean) / s, (1 - self.mean) / s

    def sample(self, num, generator=None):
        """``[num, d]`` samples by inverse-CDF (uniforms from ``generator``)."""
        u = torch.rand(num, self.mean.numel(), dtype=torch.float64,
                       generator=generator)
        alpha, beta = self._bounds()
        ca, cb = torch.special.ndtr(alpha), torch.special.ndtr(beta)
        p = (ca + u * (cb - ca)).clamp(1e-16, 1 - 1e-16)
        x = self.mean + self.sigma * _ndtri(p)
        x = torch.where(self.sigma > 0, x, self.mean.expand_as(x))
        return x.clamp(0, 1)

    def log_prob(self, x):
        """Per-dimension log density ``[..., d]`` (-inf outside [0, 1])."""
        x = torch.as_tensor(x, dtype=torch.float64)
        alpha, beta = self._bounds()
        z = (x - self.mean) / self.sigma
        log_norm = torch.log(torch.special.ndtr(beta) -
                             torch.special.ndtr(alpha))
        lp = -0.5 * z * z - 0.5 * math.log(2 * math.pi) - \
            torch.log(self.sigma) - log_norm
        inside = (x >= 0) & (x <= 1)
        return torch.where(inside, lp, torch.full_like(lp, -math.inf))


def sigma_at(round_idx, num_rounds, sigma0, schedule='constant'):
    """Sigma of round ``round_idx`` (0-based).

    ``'constant'`` (Auto Seg-Loss): sigma0. ``'linear'`` (PAP):
    ``sigma0 * (T - t) / T``, i.e. sigma0 in round 0 and sigma0 / T in the
    last round.
    """
    if schedule not in SIGMA_SCHEDULES:
        raise ValueError(f'unknown sigma schedule {schedule!r}; expected one '
                         f'of {SIGMA_SCHEDULES}')
    if schedule == 'constant':
        return float(sigma0)
    return float(sigma0) * max(num_rounds - round_idx, 0) / num_rounds


def clipped_ratios(log_ratio, clip_mode, clip_eps):
    """The importance ratios and their clipped versions of a PPO step.

    Args:
        log_ratio (Tensor): [N, d] per-dimension ``log p_new - log p_old``.
        clip_mode (str):
            ``'sum_clipped_log_ratio'`` (PAP's ``tools/search.py``): the
            joint ratio ``exp(sum_d lr_d)`` and ``exp(sum_d clamp(lr_d,
            log(1 - eps), log(1 + eps)))``, so the clipped joint ratio lies
            in ``[(1 - eps)^d, (1 + eps)^d]``;
            ``'per_dimension'`` (Auto Seg-Loss): each dimension is its own
            action, ratio ``exp(lr_d)`` clipped to ``[1 - eps, 1 + eps]``;
            ``'joint'``: standard PPO on the joint ratio, clipped to
            ``[1 - eps, 1 + eps]``.
        clip_eps (float): epsilon.

    Returns:
        tuple[Tensor, Tensor]: ratio, clipped ratio; [N] for the joint
        modes, [N, d] for ``'per_dimension'``.
    """
    lo, hi = math.log(1 - clip_eps), math.log(1 + clip_eps)
    if clip_mode == 'sum_clipped_log_ratio':
        return (log_ratio.sum(-1).exp(),
                log_ratio.clamp(lo, hi).sum(-1).exp())
    if clip_mode == 'per_dimension':
        ratio = log_ratio.exp()
        return ratio, ratio.clamp(1 - clip_eps, 1 + clip_eps)
    if clip_mode == 'joint':
        ratio = log_ratio.sum(-1).exp()
        return ratio, ratio.clamp(1 - clip_eps, 1 + clip_eps)
    raise ValueError(f'unknown clip_mode {clip_mode!r}; expected one of '
                     f'{CLIP_MODES}')


def ppo_objective(log_ratio, advantages, clip_mode, clip_eps):
    """The clipped surrogate to maximise (a scalar).

    Joint modes: ``mean_n min(r_n A_n, clip(r_n) A_n)``; per dimension:
    ``sum_d mean_n min(r_nd A_n, clip(r_nd) A_n)`` (as released).
    """
    ratio, clipped = clipped_ratios(log_ratio, clip_mode, clip_eps)
    adv = advantages if ratio.dim() == 1 else advantages[:, None]
    obj = torch.minimum(ratio * adv, clipped * adv).mean(0)
    return obj.sum()


def advantages_of(rewards, baseline='mean'):
    """``r - mean(r)`` (PAP, ASL ``baseline='mean'``) or ``r - r_0`` where
    sample 0 of the round is the mean itself (ASL ``baseline='mu'``)."""
    rewards = torch.as_tensor(rewards, dtype=torch.float64)
    if baseline == 'mean':
        return rewards - rewards.mean()
    if baseline == 'mu':
        return rewards - rewards[0]
    raise ValueError(f"unknown baseline {baseline!r}; expected 'mean' or "
                     "'mu'")


class Policy:
    """Truncated-normal policy with a logit mean, updated by PPO.

    Args:
        init_mean (Sequence[float]): initial mean in (0, 1) per dimension.
        sigma (float): sigma of round 0.
        num_rounds (int): rounds of the search (for the sigma schedule).
        sigma_schedule (str): ``'constant'`` (ASL) or ``'linear'`` (PAP).
        clip_mode (str): see :func:`clipped_ratios`.
        clip_eps (float): 0.1 (PAP) or 0.2 (ASL).
        lr (float): Adam learning rate on the logit mean (PAP 0.01, ASL 0.2).
        update_steps (int): Adam steps per round (PAP 100, ASL 60).
        lr_schedule (str): ``'warmup_linear'`` (PAP: linear warm-up over
            ``warmup_steps`` then linear decay to 0 within each round),
            ``'constant'`` (ASL default) or ``'round_linear'`` (ASL's
            ``lr_lambda='linear'``: ``lr * (1 - t / (T + 1))`` in round t).
        warmup_steps (int): PAP's 30.
        keep_optimizer_state (bool): keep Adam's moments across rounds (ASL)
            instead of a fresh Adam per round (PAP).
        baseline (str): ``'mean'`` or ``'mu'`` (see :func:`advantages_of`).
    """

    def __init__(self, init_mean, sigma=0.2, num_rounds=1,
                 sigma_schedule='constant', clip_mode='per_dimension',
                 clip_eps=0.2, lr=0.2, update_steps=60,
                 lr_schedule='constant', warmup_steps=30,
                 keep_optimizer_state=True, baseline='mean'):
        if clip_mode not in CLIP_MODES:
            raise ValueError(f'unknown clip_mode {clip_mode!r}; expected one '
                             f'of {CLIP_MODES}')
        if lr_schedule not in LR_SCHEDULES:
            raise ValueError(f'unknown lr_schedule {lr_schedule!r}; expected '
                             f'one of {LR_SCHEDULES}')
        if not 0 < clip_eps < 1:
            raise ValueError(f'clip_eps must lie in (0, 1), got {clip_eps}')
        advantages_of([0.0], baseline)
        sigma_at(0, num_rounds, sigma, sigma_schedule)
        self.mean_logit = logit(init_mean).clone()
        self.sigma0 = float(sigma)
        self.num_rounds = int(num_rounds)
        self.sigma_schedule = sigma_schedule
        self.clip_mode = clip_mode
        self.clip_eps = float(clip_eps)
        self.lr = float(lr)
        self.update_steps = int(update_steps)
        self.lr_schedule = lr_schedule
        self.warmup_steps = int(warmup_steps)
        self.keep_optimizer_state = keep_optimizer_state
        self.baseline = baseline
        self.optimizer_state = None

    @property
    def dim(self):
        return self.mean_logit.numel()

    @property
    def mean(self):
        return torch.sigmoid(self.mean_logit)

    def sigma(self, round_idx):
        return sigma_at(round_idx, self.num_rounds, self.sigma0,
                        self.sigma_schedule)

    def distribution(self, round_idx):
        return TruncatedNormal(self.mean, self.sigma(round_idx))

    def sample(self, round_idx, num, generator):
        """The ``num`` samples of a round; with ``baseline='mu'`` the first
        one is the mean itself (ASL)."""
        dist = self.distribution(round_idx)
        if self.baseline == 'mu':
            rest = dist.sample(num - 1, generator)
            return torch.cat([self.mean[None], rest])
        return dist.sample(num, generator)

    def _lr_factor(self, step, round_idx):
        if self.lr_schedule == 'warmup_linear':
            w, n = self.warmup_steps, self.update_steps
            return step / w if step <= w else 1 - (step - w) / max(n - w, 1)
        if self.lr_schedule == 'round_linear':
            return 1 - round_idx / (self.num_rounds + 1)
        return 1.0

    def update(self, thetas, rewards, round_idx):
        """One PPO update of the mean from a round's samples and rewards.

        The old log-probabilities use this round's sigma, the new ones the
        next round's (PAP's linear schedule; the last round keeps its own).
        Returns the advantages used.
        """
        thetas = torch.as_tensor(thetas, dtype=torch.float64)
        adv = advantages_of(rewards, self.baseline)
        sigma_old = self.sigma(round_idx)
        sigma_new = self.sigma(round_idx + 1) or sigma_old
        with torch.no_grad():
            old_lp = TruncatedNormal(self.mean, sigma_old).log_prob(thetas)
        param = self.mean_logit.clone().requires_grad_()
        opt = torch.optim.Adam([param], lr=self.lr)
        if self.keep_optimizer_state and self.optimizer_state is not None:
            opt.load_state_dict(self.optimizer_state)
            for group in opt.param_groups:
                group['lr'] = self.lr
        for step in range(self.update_steps):
            for group in opt.param_groups:
                group['lr'] = self.lr * self._lr_factor(step, round_idx)
            new_lp = TruncatedNormal(torch.sigmoid(param),
                                     sigma_new).log_prob(thetas)
            loss = -ppo_objective(new_lp - old_lp, adv, self.clip_mode,
                                  self.clip_eps)
            opt.zero_grad()
            loss.backward()
            opt.step()
        self.mean_logit = param.detach().clone()
        self.optimizer_state = opt.state_dict() \
            if self.keep_optimizer_state else None
        return adv

    # ---------------------------------------------------------- state
    def state_dict(self):
        """JSON-serialisable state (floats round-trip exactly)."""
        opt = None
        if self.optimizer_state is not None:
            st = self.optimizer_state['state'].get(0)
            if st is not None:
                opt = dict(step=float(st['step']),
                           exp_avg=st['exp_avg'].tolist(),
                           exp_avg_sq=st['exp_avg_sq'].tolist())
        return dict(mean_logit=self.mean_logit.tolist(),
                    mean=self.mean.tolist(), adam=opt)

    def load_state_dict(self, state):
        logit_ = torch.tensor(state['mean_logit'], dtype=torch.float64)
        if logit_.numel() != self.dim:
            raise ValueError(f'policy state has {logit_.numel()} dimensions, '
                             f'the search space {self.dim}')
        self.mean_logit = logit_
        self.optimizer_state = None
        adam = state.get('adam')
        if adam is not None:
            param = self.mean_logit.clone().requires_grad_()
            opt = torch.optim.Adam([param], lr=self.lr)
            sd = opt.state_dict()
            sd['state'] = {0: dict(
                step=torch.tensor(adam['step']),
                exp_avg=torch.tensor(adam['exp_avg'], dtype=torch.float64),
                exp_avg_sq=torch.tensor(adam['exp_avg_sq'],
                                        dtype=torch.float64))}
            self.optimizer_state = sd
