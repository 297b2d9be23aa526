"""UniGrad: closed-form gradient, logged objective, correlation EMA,
momentum update and one training step of the tiny config."""
import math
import uuid

import pytest
import torch
import torch.nn as nn
from mmengine.logging import MessageHub

from projects.unigrad import (UniGrad, batch_correlation, ema_correlation,
                              unigrad_loss)

TINY = 'configs/unigrad/unigrad_resnet18-tiny_1xb8-40it_synthetic-imagenet.py'


def _features(n=6, d=5, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    z1, z2, z1m, z2m = (nn.functional.normalize(
        torch.randn(n, d, generator=g, dtype=dtype), dim=1) for _ in range(4))
    return z1, z2, z1m, z2m


def _tiny_model(feat_dim=8, **kwargs):
    return UniGrad(
        backbone=dict(type='ResNet', depth=18, stem_channels=8,
                      base_channels=8, norm_cfg=dict(type='BN')),
        neck=dict(type='NonLinearNeck', in_channels=64, hid_channels=16,
                  out_channels=feat_dim, num_layers=3, with_last_bn=False,
                  with_last_bias=True, norm_cfg=dict(type='BN1d')),
        **kwargs)


@pytest.mark.parametrize('lambd', [0.5, 100.])
def test_gradient_is_closed_form(lambd):
    """d loss / d u1 = 0.5 / N * (-u2m + lambda F u1), float64 autograd."""
    z1, z2, z1m, z2m = _features()
    corr = batch_correlation(z1m, z2m)
    z1.requires_grad_(True)
    z2.requires_grad_(True)
    loss, _ = unigrad_loss(z1, z2, z1m, z2m, corr, lambd)
    g1, g2 = torch.autograd.grad(loss, (z1, z2))
    n = z1.shape[0]
    with torch.no_grad():
        assert torch.allclose(g1 * 2 * n, -z2m + lambd * z1 @ corr,
                              rtol=0, atol=1e-10)
        assert torch.allclose(g2 * 2 * n, -z1m + lambd * z2 @ corr,
                              rtol=0, atol=1e-10)
    # the momentum features and F receive no gradient
    z1m.requires_grad_(True)
    corr.requires_grad_(True)
    loss, _ = unigrad_loss(z1, z2, z1m, z2m, corr, lambd)
    assert loss.grad_fn is not None
    gm, gc = torch.autograd.grad(loss, (z1m, corr), allow_unused=True)
    assert gm is None and gc is None


def test_logged_loss_is_objective():
    """Value = E[-cos(u1,u2m) + lambda/2 sum_v rho_v cos^2(u1,v)] over both
    views (README formula, F = sum_v rho_v v v^T), and parse_losses sums
    only it."""
    lambd = 100.
    z1, z2, z1m, z2m = _features(n=4, d=3, seed=1)
    g = torch.Generator().manual_seed(2)
    vs = nn.functional.normalize(torch.randn(7, 3, generator=g,
                                             dtype=torch.float64), dim=1)
    rho = torch.rand(7, generator=g, dtype=torch.float64) / 7
    corr = sum(r * torch.outer(v, v) for r, v in zip(rho, vs))

    def objective(u, um):
        total = 0.
        for a, b in zip(u, um):
            total += -torch.dot(a, b) + lambd / 2 * sum(
                r * torch.dot(a, v)**2 for r, v in zip(rho, vs))
        return total / len(u)

    expected = 0.5 * (objective(z1, z2m) + objective(z2, z1m))
    loss, pos_sim = unigrad_loss(z1.requires_grad_(True), z2, z1m, z2m,
                                 corr, lambd)
    assert abs(loss.item() - expected.item()) < 1e-10
    exp_pos = 0.5 * ((z1 * z2m).sum(1).mean() + (z2 * z1m).sum(1).mean())
    assert abs(pos_sim.item() - exp_pos.item()) < 1e-12
    # the surrogate <sg(g), u> has a different value (lambda, not lambda/2)
    surrogate = 0.5 * sum(((-b + lambd * a @ corr) * a).sum(1).mean()
                          for a, b in ((z1, z2m), (z2, z1m)))
    assert abs(surrogate.item() - loss.item()) > 1e-3
    model = _tiny_model()
    total, log_vars = model.parse_losses(
        dict(loss=loss, pos_sim=pos_sim, corr_norm=torch.tensor(0.5)))
    assert total.item() == loss.item() == log_vars['loss'].item()
    assert set(log_vars) == {'loss', 'pos_sim', 'corr_norm'}


def test_correlation_ema_symmetric_and_resumable():
    rho = 0.9
    model = _tiny_model(feat_dim=5, rho=rho)
    assert not model.correlation_initialized
    a = _features(n=6, d=5, seed=3, dtype=torch.float32)
    b = _features(n=6, d=5, seed=4, dtype=torch.float32)
    model.update_correlation(a[2], a[3])
    f1 = (a[2].t() @ a[2] + a[3].t() @ a[3]) / 12
    assert torch.allclose(model.correlation, f1, atol=1e-6)
    model.update_correlation(b[2], b[3])
    f2 = rho * f1 + (1 - rho) * (b[2].t() @ b[2] + b[3].t() @ b[3]) / 12
    assert torch.allclose(model.correlation, f2, atol=1e-6)
    assert torch.equal(model.correlation, model.correlation.t())
    # trace = mean squared norm of unit features
    assert abs(model.correlation.trace().item() - 1) < 1e-5
    assert torch.equal(ema_correlation(f1, f2, rho, initialized=False), f2)
    # F and its flag live in the state dict: a resumed model continues
    state = model.state_dict()
    assert {'correlation', 'correlation_initialized'} <= set(state)
    resumed = _tiny_model(feat_dim=5, rho=rho)
    resumed.load_state_dict(state)
    assert torch.equal(resumed.correlation, model.correlation)
    assert bool(resumed.correlation_initialized)
    model.update_correlation(a[0], a[1])
    resumed.update_correlation(a[0], a[1])
    assert torch.equal(resumed.correlation, model.correlation)


def test_momentum_update_closed_form():
    """target <- mm * target + (1 - mm) * online with
    mm = 1 - (1 - 0.996) (cos(pi k / K) + 1) / 2 (official schedule)."""
    total = 10
    # a new instance becomes the current one, which CosineEMA reads
    hub = MessageHub.get_instance(f'unigrad_momentum_{uuid.uuid4().hex}')
    hub.update_info('max_iters', total)
    model = _tiny_model()
    online = nn.Sequential(model.backbone, model.neck)
    model.target_net.update_parameters(online)  # k = 0: copy
    for k in (1, 2):
        before = {n: p.clone() for n, p in
                  model.target_net.module.named_parameters()}
        with torch.no_grad():
            for p in online.parameters():
                p.add_(torch.randn_like(p))
        model.target_net.update_parameters(online)
        mm = 1 - (1 - 0.996) * (math.cos(math.pi * k / total) + 1) / 2
        for n, p in online.named_parameters():
            expected = mm * before[n] + (1 - mm) * p
            assert torch.allclose(model.target_net.module.get_parameter(n),
                                  expected, atol=1e-6), (k, n)


def test_config_checks():
    with pytest.raises(ValueError, match='no head'):
        _tiny_model(head=dict(type='LatentPredictHead'))
    with pytest.raises(ValueError, match='rho'):
        _tiny_model(rho=1.)


def test_tiny_config_trains(imagenet_root, tmp_path):
    from zoo_steps import train_steps
    rows = train_steps(TINY, imagenet_root, tmp_path, iters=1)
    (row, ) = rows
    assert math.isfinite(row['loss'])
    assert -1 <= row['pos_sim'] <= 1
    # F started at zero; after the first step it is the batch correlation
    # of unit vectors: 1/sqrt(D) <= ||F||_F <= 1 (D = 128)
    assert 1 / math.sqrt(128) - 1e-6 <= row['corr_norm'] <= 1 + 1e-6
