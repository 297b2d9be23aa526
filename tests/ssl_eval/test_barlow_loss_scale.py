"""`ScaledCrossCorrelationLoss` (projects/ssl_eval/barlow.py): mmpretrain's
Barlow Twins loss times ``loss_weight``, in value and in gradient, and
buildable from the registry."""
import pytest
import torch
from mmpretrain.models.losses import CrossCorrelationLoss
from mmpretrain.registry import MODELS

from projects.ssl_eval import ScaledCrossCorrelationLoss

D = 16


def _matrix(seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(D, D, generator=g, dtype=torch.float64) * 0.3 + \
        torch.eye(D, dtype=torch.float64) * 0.5


@pytest.mark.parametrize('lambd', [0.0051, 0.0102, 0.6528])
def test_value_is_loss_weight_times_mmpretrain_loss(lambd):
    c = _matrix()
    weight = 1. / D
    # mmpretrain's forward modifies the diagonal of its input in place:
    # each call gets its own copy
    ref = CrossCorrelationLoss(lambd=lambd)(c.clone())
    scaled = ScaledCrossCorrelationLoss(lambd=lambd,
                                        loss_weight=weight)(c.clone())
    assert scaled.item() == pytest.approx(weight * ref.item(), rel=1e-12)
    # and the reference itself is the Barlow Twins sum
    off = c - torch.diag(torch.diagonal(c))
    expected = ((torch.diagonal(c) - 1)**2).sum() + lambd * (off**2).sum()
    assert ref.item() == pytest.approx(expected.item(), rel=1e-12)
    # default loss_weight 1 is the unscaled loss
    assert ScaledCrossCorrelationLoss(lambd=lambd)(c.clone()).item() == \
        pytest.approx(ref.item(), rel=1e-12)


def test_gradient_is_scaled_likewise():
    weight = 1. / D
    grads = []
    for loss in (CrossCorrelationLoss(lambd=0.0102),
                 ScaledCrossCorrelationLoss(lambd=0.0102,
                                            loss_weight=weight)):
        leaf = _matrix(1).requires_grad_()
        loss(leaf * 1.).backward()  # a non-leaf: the loss writes in place
        grads.append(leaf.grad)
    ref, scaled = grads
    assert ref.abs().max() > 0
    torch.testing.assert_close(scaled, weight * ref, rtol=1e-12, atol=0)


def test_built_from_the_registry_in_the_head():
    from mmengine.registry import init_default_scope
    init_default_scope('mmpretrain')
    head = MODELS.build(dict(
        type='LatentCrossCorrelationHead', in_channels=D,
        loss=dict(type='ScaledCrossCorrelationLoss', lambd=0.0102,
                  loss_weight=1. / D)))
    assert isinstance(head.loss_module, ScaledCrossCorrelationLoss)
    assert head.loss_module.loss_weight == 1. / D
    x, y = torch.randn(32, D), torch.randn(32, D)
    ref = MODELS.build(dict(
        type='LatentCrossCorrelationHead', in_channels=D,
        loss=dict(type='CrossCorrelationLoss', lambd=0.0102)))
    torch.testing.assert_close(head.loss(x, y), ref.loss(x, y) / D)
