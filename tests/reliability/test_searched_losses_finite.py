"""The searched losses stay finite, with finite gradients, for every valid
parameter vector (the corners of [0, 1]^d and edge-heavy random draws) in
float32 and bfloat16, on saturated logits."""
import numpy as np
import pytest
import torch

from projects.auto_seg_loss import FUNCTIONS, AutoSegLoss
from projects.pap_loss import PAPLoss

DTYPES = [torch.float32, torch.bfloat16]


def thetas(size, seed=0):
    """All zeros, all ones, the middle and 3 draws of Beta(0.2, 0.2)."""
    rng = np.random.default_rng(seed)
    return [torch.zeros(size), torch.ones(size), torch.full((size,), 0.5)] + [
        torch.from_numpy(rng.beta(0.2, 0.2, size)) for _ in range(3)]


@pytest.mark.parametrize('dtype', DTYPES)
def test_pap_loss_is_finite(dtype):
    g = torch.Generator().manual_seed(1)
    n, c = 300, 6
    targets = torch.zeros(n, c)
    targets[torch.arange(0, n, 7), torch.arange(0, n, 7) % c] = 1
    targets[5:20] = -1
    quality = torch.rand(n, generator=g)
    quality[:4] = torch.tensor([0.0, 1.0, 0.0, 1.0])
    for theta in thetas(5 * 8):
        loss_fn = PAPLoss(theta=theta.reshape(5, 8).tolist())
        for scale in (1.0, 30.0):  # ordinary and saturated logits
            logits = (scale * torch.randn(n, c, generator=g)).to(dtype)
            logits.requires_grad_()
            q = quality.clone().requires_grad_()
            loss = loss_fn(logits, targets, q)
            loss.backward()
            assert torch.isfinite(loss), theta
            assert torch.isfinite(logits.grad).all(), theta
            assert torch.isfinite(q.grad).all(), theta


@pytest.mark.parametrize('dtype', DTYPES)
@pytest.mark.parametrize('metric', sorted(FUNCTIONS))
def test_auto_seg_loss_is_finite(metric, dtype):
    names, pieces = FUNCTIONS[metric]
    g = torch.Generator().manual_seed(2)
    label = torch.randint(0, 4, (2, 1, 5, 6), generator=g).float()
    label = torch.nn.functional.interpolate(label, scale_factor=3)[:, 0]
    label = label.long()
    label[0, :2] = 255
    for theta in thetas(len(names) * 2 * (2 * pieces - 1)):
        loss_fn = AutoSegLoss(target_metric=metric, theta=theta.tolist(),
                              tol=2)
        for scale in (1.0, 30.0):
            logits = (scale * torch.randn(2, 4, 15, 18, generator=g))
            logits = logits.to(dtype).requires_grad_()
            loss = loss_fn(logits, label)
            loss.backward()
            assert torch.isfinite(loss), theta
            assert 0 <= loss.item() <= 1, theta
            assert torch.isfinite(logits.grad).all(), theta
