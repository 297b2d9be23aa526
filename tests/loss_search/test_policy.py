"""The truncated-normal policy and the PPO update (closed forms, quadrature,
invariances, the two clipping modes of the papers)."""
import math

import pytest
import torch

from projects.loss_search import (Policy, TruncatedNormal, clipped_ratios,
                                  ppo_objective, sigma_at)


@pytest.mark.parametrize('mean,sigma', [
    ([0.5, 0.01, 0.99], 0.2), ([0.001, 0.999, 0.3], 5.0),
    ([0.2, 0.8, 0.5], 1e-4)])
def test_samples_stay_in_unit_box(mean, sigma):
    x = TruncatedNormal(torch.tensor(mean), sigma).sample(
        4000, torch.Generator().manual_seed(0))
    assert x.shape == (4000, 3)
    assert x.min() >= 0 and x.max() <= 1
    # the empirical mean follows the closed form of the truncated normal
    m, s = torch.tensor(mean, dtype=torch.float64), sigma
    a, b = -m / s, (1 - m) / s
    pdf = lambda z: torch.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa
    ndtr = torch.special.ndtr
    expected = m + s * (pdf(a) - pdf(b)) / (ndtr(b) - ndtr(a))
    assert torch.allclose(x.mean(0), expected, atol=0.02)


@pytest.mark.parametrize('mean,sigma', [(0.3, 0.2), (0.02, 0.05),
                                        (0.95, 0.5), (0.5, 3.0)])
def test_log_prob_integrates_to_one(mean, sigma):
    x = torch.linspace(0, 1, 200001, dtype=torch.float64)
    dist = TruncatedNormal(torch.tensor([mean]), sigma)
    p = dist.log_prob(x[:, None]).exp()[:, 0]
    assert torch.trapezoid(p, x).item() == pytest.approx(1, abs=1e-6)
    # 2D: the joint density (sum of per-dimension log-probs)
    g = torch.linspace(0, 1, 1001, dtype=torch.float64)
    xx, yy = torch.meshgrid(g, g, indexing='ij')
    dist2 = TruncatedNormal(torch.tensor([mean, 1 - mean]), sigma)
    p2 = dist2.log_prob(torch.stack([xx, yy], -1)).sum(-1).exp()
    total = torch.trapezoid(torch.trapezoid(p2, g, dim=1), g)
    assert total.item() == pytest.approx(1, abs=1e-4)
    assert dist.log_prob(torch.tensor([[-0.1], [1.1]])).isinf().all()


def test_sigma_to_zero_returns_the_mean():
    mean = torch.tensor([0.0123, 0.5, 0.987], dtype=torch.float64)
    gen = torch.Generator().manual_seed(1)
    assert torch.equal(TruncatedNormal(mean, 0.0).sample(5, gen),
                       mean.expand(5, 3))
    x = TruncatedNormal(mean, 1e-9).sample(5, gen)
    assert torch.allclose(x, mean.expand(5, 3), atol=1e-8)


def test_sigma_schedules():
    # PAP: sigma0 * (T - t) / T, so sigma0 / T in the last round
    assert [sigma_at(t, 4, 0.2, 'linear') for t in range(4)] == \
        pytest.approx([0.2, 0.15, 0.1, 0.05])
    assert sigma_at(7, 8, 0.2, 'constant') == 0.2  # ASL
    with pytest.raises(ValueError, match='unknown sigma schedule'):
        sigma_at(0, 4, 0.2, 'cosine')


PAP = dict(sigma=0.2, sigma_schedule='linear',
           clip_mode='sum_clipped_log_ratio', clip_eps=0.1, lr=0.01,
           update_steps=100, lr_schedule='warmup_linear',
           keep_optimizer_state=False)
ASL = dict(sigma=0.2, clip_mode='per_dimension', clip_eps=0.2, lr=0.2,
           update_steps=60)
JOINT = dict(sigma=0.2, clip_mode='joint', clip_eps=0.2, lr=0.05,
             update_steps=60)


@pytest.mark.parametrize('settings', [PAP, ASL, JOINT],
                         ids=['pap', 'asl', 'joint'])
def test_ppo_update_direction(settings):
    init = [0.3, 0.5, 0.5]
    init_t = torch.tensor(init, dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    policy = Policy(init, num_rounds=4, **settings)
    thetas = policy.sample(0, 16, gen)
    # equal rewards: zero advantage, the mean does not move
    policy.update(thetas, [0.7] * 16, 0)
    assert torch.allclose(policy.mean, init_t, atol=1e-12)
    # a reward increasing (decreasing) along one coordinate moves it up
    # (down)
    for k in (0, 1):
        for sign in (1, -1):
            policy = Policy(init, num_rounds=4, **settings)
            policy.update(thetas, (sign * thetas[:, k]).tolist(), 0)
            assert sign * (policy.mean[k] - init[k]) > 0.005
    # coordinates that carry no information (sampled at their mean 0.5)
    # get exactly zero gradient and stay
    flat = thetas.clone()
    flat[:, 1:] = 0.5
    policy = Policy(init, num_rounds=4, **settings)
    policy.update(flat, flat[:, 0].tolist(), 0)
    assert policy.mean[0] > init[0] + 0.005
    assert torch.equal(policy.mean[1:], init_t[1:])


@pytest.mark.parametrize('mode,lo,hi', [
    ('sum_clipped_log_ratio', 0.9 ** 5, 1.1 ** 5),
    ('per_dimension', 0.9, 1.1), ('joint', 0.9, 1.1)])
def test_clipping_bounds(mode, lo, hi):
    log_ratio = (torch.randn(64, 5, dtype=torch.float64,
                             generator=torch.Generator().manual_seed(0)) * 2)
    ratio, clipped = clipped_ratios(log_ratio, mode, 0.1)
    assert clipped.min() >= lo - 1e-12 and clipped.max() <= hi + 1e-12
    assert clipped.min() == pytest.approx(lo) and \
        clipped.max() == pytest.approx(hi)
    # inside the trust region nothing is clipped
    small = torch.full((3, 5), 0.01, dtype=torch.float64)
    if mode != 'sum_clipped_log_ratio':
        small = small / 5  # joint/per-dimension: |log ratio| < log(1.1)
    r, c = clipped_ratios(small, mode, 0.1)
    assert torch.allclose(r, c)
    # past the bound with a positive advantage the surrogate is flat (the
    # clipped branch is the minimum): no gradient pushes further
    far = torch.full((2, 5), 0.5, dtype=torch.float64, requires_grad=True)
    ppo_objective(far, torch.tensor([1.0, 2.0], dtype=torch.float64), mode,
                  0.1).backward()
    assert torch.count_nonzero(far.grad) == 0
    # ... but with a negative advantage it still pulls back
    far.grad = None
    ppo_objective(far, torch.tensor([-1.0, -2.0], dtype=torch.float64), mode,
                  0.1).backward()
    assert (far.grad < 0).all()


def test_pap_clipping_is_looser_than_per_dimension():
    """The released PAP clip bounds the joint ratio by (1 + eps)^d, i.e.
    1.1^41 ~ 50 for RetinaNet, not by 1 + eps."""
    lr = torch.full((1, 41), 0.2, dtype=torch.float64)
    _, pap = clipped_ratios(lr, 'sum_clipped_log_ratio', 0.1)
    _, joint = clipped_ratios(lr, 'joint', 0.1)
    assert pap.item() == pytest.approx(1.1 ** 41)
    assert joint.item() == pytest.approx(1.1)


def test_policy_state_round_trip():
    gen = torch.Generator().manual_seed(0)
    a = Policy([0.3, 0.6], num_rounds=3, **ASL)
    thetas = a.sample(0, 8, gen)
    a.update(thetas, thetas[:, 1].tolist(), 0)
    b = Policy([0.3, 0.6], num_rounds=3, **ASL)
    b.load_state_dict(a.state_dict())
    assert torch.equal(a.mean_logit, b.mean_logit)
    t2 = a.sample(1, 8, torch.Generator().manual_seed(5))
    a.update(t2, t2[:, 0].tolist(), 1)
    b.update(t2, t2[:, 0].tolist(), 1)  # Adam moments restored exactly
    assert torch.equal(a.mean_logit, b.mean_logit)


def test_baseline_mu_samples_the_mean_first():
    p = Policy([0.3, 0.6], baseline='mu', **ASL)
    x = p.sample(0, 4, torch.Generator().manual_seed(0))
    assert torch.allclose(x[0], torch.tensor([0.3, 0.6], dtype=torch.float64))
    with pytest.raises(ValueError, match='unknown clip_mode'):
        Policy([0.3], clip_mode='pap')
    with pytest.raises(ValueError, match='strictly inside'):
        Policy([0.0, 0.5])
