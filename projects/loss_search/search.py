"""The task-independent search loop: sample a round from the policy,
evaluate the samples (in parallel, across ranks), record every sample,
update the policy, save the state; resumable at any point.

Work directory::

    history.json        every evaluated sample (rewritten atomically)
    state.json          the policy after the last finished round
    result/             parameter files of the current policy mean
    best/               parameter files of the best sample so far
    split/              the held-out split of the training set
    samples/round_RRR/sample_SSS/   proxy config, parameters, logs
    reward_history.png, best_curves.png
"""
import copy
import hashlib
import json
import math
import os
import os.path as osp
import time

import torch

from projects.run_config import write_json_atomic

from .policy import Policy
from .proxy import EVALUATORS, proxy_config
from .spaces import SPACES
from .split import apply_held_out_split

POLICY_KEYS = ('sigma', 'sigma_schedule', 'clip_mode', 'clip_eps', 'lr',
               'update_steps', 'lr_schedule', 'warmup_steps',
               'keep_optimizer_state', 'baseline')


def _build(table, cfg, what):
    cfg = dict(cfg)
    name = cfg.pop('type', None)
    if name not in table:
        import difflib
        close = difflib.get_close_matches(str(name), table, 1)
        hint = f"; did you mean '{close[0]}'?" if close else ''
        raise ValueError(f'loss_search.{what}.type: unknown {name!r}; '
                         f'expected one of {sorted(table)}{hint}')
    return table[name](**cfg)


def check_search_config(cfg):
    """Validate ``cfg.loss_search`` before any work; return it as a dict."""
    sc = cfg.get('loss_search')
    if not isinstance(sc, dict):
        raise ValueError('the config has no loss_search section (see '
                         'projects/loss_search/README.md)')
    reward = sc.get('reward')
    if not isinstance(reward, dict) or not isinstance(
            reward.get('metric'), str) or not reward.get('metric'):
        raise ValueError(
            'loss_search.reward.metric is missing: name the validation '
            "metric the search maximises, e.g. reward=dict(metric="
            "'coco/bbox_mAP') or reward=dict(metric='mIoU')")
    split = reward.get('split', 'held_out')
    if split not in ('held_out', 'val'):
        raise ValueError(f"loss_search.reward.split must be 'held_out' (a "
                         f"part of the training set, default) or 'val', got "
                         f'{split!r}')
    for key in ('space', 'evaluator'):
        if not isinstance(sc.get(key), dict):
            raise ValueError(f'loss_search.{key} is missing (a dict with '
                             f'type=...)')
    for key in ('num_rounds', 'samples_per_round'):
        if not isinstance(sc.get(key), int) or sc[key] < 1:
            raise ValueError(f'loss_search.{key} must be a positive int, '
                             f'got {sc.get(key)!r}')
    unknown = set(sc.get('policy', {})) - set(POLICY_KEYS) - {'init_mean'}
    if unknown:
        raise ValueError(f'loss_search.policy: unknown keys '
                         f'{sorted(unknown)}; expected {POLICY_KEYS}')
    return sc


class Dist:
    """torch.distributed helpers that degrade to one process."""

    def __init__(self):
        import torch.distributed as td
        self.td = td
        self.on = td.is_available() and td.is_initialized()
        self.rank = td.get_rank() if self.on else 0
        self.world = td.get_world_size() if self.on else 1

    def broadcast(self, obj):
        if not self.on:
            return obj
        box = [obj]
        self.td.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, obj):
        if not self.on:
            return [obj]
        out = [None] * self.world
        self.td.all_gather_object(out, obj)
        return out


class LossSearch:
    """A loss-parameter search from a search config.

    Args:
        cfg (Config): the proxy training config with a ``loss_search``
            section (see the README and configs/loss_search).
        work_dir (str): output directory.
        config_name (str): recorded in the parameter files.
        plots (bool | str): draw the PNG plots after every round (True),
            after the last one only ('final') or never (False).
    """

    def __init__(self, cfg, work_dir, config_name='', plots=True):
        self.sc = check_search_config(cfg)
        self.cfg = cfg
        self.work_dir = osp.abspath(work_dir)
        self.config_name = config_name
        self.plots = plots
        self.space = _build(SPACES, self.sc['space'], 'space')
        ev = dict(self.sc['evaluator'])
        if ev.get('type') == 'TrainProxy':
            ev.setdefault('metric', self.sc['reward']['metric'])
        self.evaluator = _build(EVALUATORS, ev, 'evaluator')
        self.num_rounds = self.sc['num_rounds']
        self.num_samples = self.sc['samples_per_round']
        self.seed = int(self.sc.get('seed', 0))
        pol = dict(self.sc.get('policy', {}))
        init = pol.pop('init_mean', None) or self.space.init_mean
        if len(init) != self.space.dim:
            raise ValueError(f'loss_search.policy.init_mean has {len(init)} '
                             f'numbers; the space has {self.space.dim}')
        self.policy = Policy(init, num_rounds=self.num_rounds, **pol)
        if self.policy.baseline == 'mu' and self.num_samples < 2:
            raise ValueError("baseline='mu' needs samples_per_round >= 2")
        self.dist = Dist()
        self.history = []
        self.state = None
        self.proxy_base = None
        if getattr(self.evaluator, 'needs_config', False):
            self._check_proxy_config()

    # ------------------------------------------------------------ setup
    def _check_proxy_config(self):
        for key in ('train_dataloader', 'val_dataloader', 'val_evaluator',
                    'train_cfg', 'model'):
            if not self.cfg.get(key):
                raise ValueError(f'loss_search with a TrainProxy needs '
                                 f'{key} in the config')
        # fail on wrong head paths or non-PAP heads before any proxy run
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            self.space.inject(self.cfg, self.space.init_mean, tmp)

    def signature(self):
        key = json.dumps(dict(space=self.sc['space'], dim=self.space.dim,
                              rounds=self.num_rounds,
                              samples=self.num_samples, seed=self.seed,
                              policy=self.sc.get('policy', {})),
                         sort_keys=True, default=str)
        return hashlib.sha256(key.encode()).hexdigest()[:16]

    def _paths(self):
        w = self.work_dir
        return dict(history=osp.join(w, 'history.json'),
                    state=osp.join(w, 'state.json'))

    def load(self, resume):
        """Read (rank 0) and share history and state."""
        paths = self._paths()
        payload = None
        if self.dist.rank == 0:
            exists = osp.exists(paths['history']) or osp.exists(
                paths['state'])
            if exists and not resume:
                raise FileExistsError(
                    f'{self.work_dir} already holds a search; continue it '
                    f'with --resume or choose another --work-dir')
            history, state = [], None
            if resume and osp.exists(paths['history']):
                with open(paths['history'], encoding='utf-8') as f:
                    history = json.load(f)['samples']
            if resume and osp.exists(paths['state']):
                with open(paths['state'], encoding='utf-8') as f:
                    state = json.load(f)
                if state.get('signature') != self.signature():
                    raise ValueError(
                        f'{paths["state"]} was written by a different search '
                        f'(space, rounds, samples, seed or policy changed); '
                        f'use another --work-dir')
            payload = (history, state)
        history, state = self.dist.broadcast(payload)
        self.history = history
        if state is not None:
            self.policy.load_state_dict(state['policy'])
            self.state = state
        else:
            self.state = dict(round=0)

    def prepare(self):
        """The held-out split and the base proxy config (every rank, into
        its own work_dir: the split is deterministic)."""
        if not getattr(self.evaluator, 'needs_config', False):
            return
        cfg = copy.deepcopy(self.cfg)
        reward = self.sc['reward']
        if reward.get('split', 'held_out') == 'held_out':
            opts = dict(reward.get('held_out', {}))
            cfg, info = apply_held_out_split(cfg, osp.join(
                self.work_dir, 'split'), **opts)
            if self.dist.rank == 0:
                write_json_atomic(osp.join(self.work_dir, 'split',
                                           'split.json'), info)
        self.proxy_base = cfg

    # ------------------------------------------------------------ rounds
    def round_thetas(self, t):
        gen = torch.Generator().manual_seed(self.seed * 1000003 + t)
        return self.policy.sample(t, self.num_samples, gen)

    def _job(self, t, i, theta):
        job = dict(round=t, index=i, theta=theta.tolist())
        if self.proxy_base is not None:
            folder = osp.join(self.work_dir, 'samples', f'round_{t:03d}',
                              f'sample_{i:03d}')
            os.makedirs(folder, exist_ok=True)
            cfg = self.space.inject(
                self.proxy_base, theta, osp.join(folder, 'params'),
                source=f'loss_search {self.config_name} round {t} sample {i}')
            cfg = proxy_config(cfg, folder)
            job['config'] = osp.join(folder, 'config.py')
            job['result'] = osp.join(folder, 'result.json')
            cfg.dump(job['config'])
        return job

    def _record(self, job, outcome):
        reward = outcome.get('reward')
        error = outcome.get('error')
        ok = error is None and isinstance(reward, (int, float)) and \
            math.isfinite(reward)
        if error is None and not ok:
            error = f'non-finite reward {reward!r}'
        return dict(round=job['round'], index=job['index'],
                    theta=job['theta'],
                    params=self.space.decode(job['theta']),
                    reward=float(reward) if ok else 0.0,
                    raw_reward=reward if ok else None,
                    status='ok' if ok else 'failed', error=error,
                    metrics=outcome.get('metrics', {}),
                    time=outcome.get('time'), finished_at=time.time(),
                    rank=self.dist.rank)

    def _save_history(self):
        write_json_atomic(self._paths()['history'], dict(
            signature=self.signature(), metric=self.sc['reward']['metric'],
            samples=sorted(self.history,
                           key=lambda r: (r['round'], r['index']))))

    def _evaluate(self, mine):
        """Evaluate this rank's jobs (rank r: the round's pending samples
        r, r + W, ...); rank 0 records each as soon as it knows it (one
        gather per wave of parallel runs under torch.distributed)."""
        slots = self.evaluator.num_slots
        if not self.dist.on:
            for job, outcome in self.evaluator.run(mine):
                self.history.append(self._record(job, outcome))
                self._save_history()
            return
        waves = max(self.dist.gather(math.ceil(len(mine) / slots)))
        for w in range(waves):
            chunk = mine[w * slots:(w + 1) * slots]
            records = [self._record(job, outcome)
                       for job, outcome in self.evaluator.run(chunk)]
            for part in self.dist.gather(records):
                if self.dist.rank == 0:
                    self.history.extend(part)
            if self.dist.rank == 0:
                self._save_history()

    def run(self, resume=False, stop_after_round=None):
        """Run (or continue) the search; return the final state."""
        os.makedirs(self.work_dir, exist_ok=True)
        self.load(resume)
        local_rank = int(os.environ['LOCAL_RANK']) \
            if self.dist.on and 'LOCAL_RANK' in os.environ else None
        self.evaluator.setup(local_rank)
        self.prepare()
        for t in range(self.state['round'], self.num_rounds):
            thetas = self.round_thetas(t)
            done = {r['index']: r for r in self.history if r['round'] == t}
            for i, rec in done.items():
                if not torch.equal(torch.tensor(rec['theta'],
                                                dtype=torch.float64),
                                   thetas[i]):
                    raise ValueError(
                        f'history.json: round {t} sample {i} differs from '
                        f'the sample this search draws; the history belongs '
                        f'to another search')
            pending = [i for i in range(self.num_samples) if i not in done]
            mine = pending[self.dist.rank::self.dist.world]
            self._evaluate([self._job(t, i, thetas[i]) for i in mine])
            if self.dist.rank == 0:
                rows = sorted((r for r in self.history if r['round'] == t),
                              key=lambda r: r['index'])
                rewards = [r['reward'] for r in rows]
                self.policy.update(thetas, rewards, t)
                self.state = dict(
                    round=t + 1, signature=self.signature(),
                    policy=self.policy.state_dict(),
                    sigma=self.policy.sigma(t + 1),
                    round_mean_reward=sum(rewards) / len(rewards),
                    metric=self.sc['reward']['metric'])
                self._write_results(t)
                write_json_atomic(self._paths()['state'], self.state)
            self.state = self.dist.broadcast(self.state)
            self.policy.load_state_dict(self.state['policy'])
            if stop_after_round is not None and t >= stop_after_round:
                break
        return self.state

    # ------------------------------------------------------------ outputs
    def best(self):
        ok = [r for r in self.history if r['status'] == 'ok']
        return max(ok, key=lambda r: r['reward']) if ok else None

    def _write_results(self, t):
        from .plots import plot_search
        meta = dict(source=f'loss_search {self.config_name}',
                    metric=self.sc['reward']['metric'])
        mean = self.policy.mean
        self.space.write_params(mean, osp.join(self.work_dir, 'result'),
                                kind=f'policy mean after round {t}', **meta)
        best = self.best()
        if best is not None:
            self.space.write_params(
                best['theta'], osp.join(self.work_dir, 'best'),
                kind=f"best sample (round {best['round']} sample "
                f"{best['index']}, reward {best['reward']:.6g})", **meta)
        if not self.plots or (self.plots == 'final' and
                              t + 1 < self.num_rounds):
            return
        try:
            plot_search(self.history, self.space, mean,
                        None if best is None else best['theta'],
                        self.work_dir, self.sc['reward']['metric'])
        except Exception as err:  # plots never stop a search
            print(f'loss_search: plotting failed: {err}')
