"""Linear probe on frozen features: separable classes are learnt, random
labels are not, invariance to per-channel affine maps (the BatchNorm
standardisation), and clear errors."""
import pytest
import torch

from projects.ssl_eval import linear_probe


def _data(seed, n=200, dim=16, classes=4, shift=3.):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    centres = torch.randn(classes, dim, generator=torch.Generator()
                          .manual_seed(99)) * shift
    return centres[y] + torch.randn(n, dim, generator=g), y


def test_separable_and_random_labels():
    x, y = _data(0)
    xt, yt = _data(1)
    assert linear_probe(x, y, xt, yt)['top1'] == 100.
    shuffled = y[torch.randperm(len(y), generator=torch.Generator()
                                .manual_seed(2))]
    # labels unrelated to the features: chance (25 %) on new data
    assert linear_probe(x, shuffled, xt, yt)['top1'] < 45.


def test_affine_invariance_and_determinism():
    x, y = _data(0, shift=0.6)
    xt, yt = _data(1, shift=0.6)
    scale = torch.linspace(0.1, 10., x.shape[1])
    a = linear_probe(x, y, xt, yt)
    b = linear_probe(x * scale + 5., y, xt * scale + 5., yt)
    assert a == linear_probe(x, y, xt, yt)
    assert b['top1'] == pytest.approx(a['top1'], abs=1.)
    assert 40. < a['top1'] < 100.


def test_errors():
    x, y = _data(0)
    with pytest.raises(ValueError, match='same C'):
        linear_probe(x, y, x[:, :3], y)
    with pytest.raises(ValueError, match='one label per feature'):
        linear_probe(x, y[:5], x, y)
