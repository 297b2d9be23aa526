"""RevCol backbone: shapes, published sizes, reversible == plain gradients,
layer-decay ids, arch validation."""
import pytest
import torch

from projects.revcol import (RevCol, RevColClsHead, RevColumnsFunction,
                             revcol_layer_id)

TINY = dict(channels=[8, 16, 24, 32], layers=[1, 2, 1, 1], num_subnet=4)
# RevCol-H's topology (blocks [1, 2, 6, 2], 8 columns, kernel 7, extra
# c3 -> level 0 branch) at a tiny width
H_TINY = dict(channels=[8, 16, 24, 32], layers=[1, 2, 6, 2], num_subnet=8,
              kernel_size=7, extra_up_branch=True)
# Published parameter counts (official README / models at 1000 classes).
PUBLISHED_M = {'t': 30.5, 's': 60.6, 'b': 138.6, 'l': 273.1, 'xl': 833.8}


@pytest.mark.parametrize('arch,size', [('t', 64), (TINY, 72), (H_TINY, 64)])
def test_output_shapes_and_strides(arch, size):
    model = RevCol(arch=arch, save_memory=False).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, size, size))
    assert len(outs) == 4
    for lvl, out in enumerate(outs):
        stride = 4 * 2**lvl
        assert out.shape == (1, model.channels[lvl], size // stride,
                             size // stride)
    sub = RevCol(arch=arch, out_indices=(1, -1), inter_supv=True,
                 save_memory=False)
    with torch.no_grad():
        outs = sub(torch.randn(1, 3, size, size))
    # c3 of columns 0, 1, 2 (every num_subnet // 4-th) then levels 1 and 3
    assert len(sub.inter_columns) == 3 and len(outs) == 5
    assert [o.shape[1] for o in outs] == [sub.channels[3]] * 3 + [
        sub.channels[1], sub.channels[3]]


@pytest.mark.parametrize('arch', list(PUBLISHED_M))
def test_parameter_counts_match_published(arch):
    """Backbone + official 1000-class classifier, built on the meta device;
    the official code also holds four dead alphas in its first column."""
    with torch.device('meta'):
        backbone = RevCol(arch=arch)
        head = RevColClsHead(num_classes=1000,
                             in_channels=backbone.channels[-1])
    n = sum(p.numel() for m in (backbone, head) for p in m.parameters())
    n += sum(backbone.channels)
    assert round(n / 1e6, 1) == PUBLISHED_M[arch]


def _build(dp, keep_every, save_memory, arch=TINY):
    torch.manual_seed(0)
    model = RevCol(arch=arch, drop_path_rate=dp, save_memory=save_memory,
                   keep_every=keep_every, inter_supv=True).double()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            # non-trivial layer scales and shortcut scales
            if name.endswith('gamma'):
                p.copy_(torch.rand(p.shape, generator=g) - 0.5)
            elif 'alpha' in name:
                p.copy_(torch.rand(p.shape, generator=g) * 0.6 + 0.2)
    return model.train()


def _run(model, x, weights):
    torch.manual_seed(123)
    x = x.clone().requires_grad_()
    outs = model(x)
    sum((o * w).sum() for o, w in zip(outs, weights)).backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    return outs, x.grad, grads, torch.rand(3)


@pytest.mark.parametrize('arch,dp,keep_every', [
    (TINY, 0., 1), (TINY, 0., 0), (TINY, 0.3, 1), (TINY, 0.3, 0),
    (TINY, 0.3, 2), (H_TINY, 0., 2), (H_TINY, 0.3, 1), (H_TINY, 0.3, 2)])
def test_reversible_gradients_equal_plain(arch, dp, keep_every):
    """Reversible backward == plain autograd (float64, <= 1e-10) for every
    parameter and the input, also for RevCol-H's topology (the extra
    c3 -> level 0 branch is inverted and differentiated too; with
    ``keep_every=2`` every other column's inputs are rebuilt by inversion)."""
    size = 32 if arch is H_TINY else 64
    x = torch.randn(2, 3, size, size, dtype=torch.float64)
    plain = _build(dp, keep_every, False, arch)
    rev = _build(dp, keep_every, True, arch)
    ref = plain(x)  # shapes for the cotangents
    g = torch.Generator().manual_seed(2)
    weights = [torch.randn(o.shape, generator=g, dtype=torch.float64)
               for o in ref]
    plain.zero_grad()
    o1, gx1, gp1, rng1 = _run(plain, x, weights)
    o2, gx2, gp2, rng2 = _run(rev, x, weights)
    for a, b in zip(o1, o2):
        assert torch.equal(a, b)
    assert (gx1 - gx2).abs().max() <= 1e-10
    for name in gp1:
        assert gp2[name] is not None, name
        assert (gp1[name] - gp2[name]).abs().max() <= 1e-10, name
    up2 = [n for n in gp1 if '.up2.' in n]
    if arch is H_TINY:  # columns 1..7, Linear + LN weights and biases
        assert len(up2) == 7 * 4
        assert all(gp1[n].abs().sum() > 0 for n in up2)
    else:
        assert up2 == []
    # drop path really drew masks, and the caller's RNG stream is untouched
    assert torch.equal(rng1, rng2)
    if dp:
        torch.manual_seed(123)
        with torch.no_grad():
            other = plain(x)
        plain.eval()
        with torch.no_grad():
            assert not torch.equal(plain(x)[-1], other[-1])


def test_huge_arch_and_options():
    """'h' is the official RevCol-H; kernel and extra branch follow the arch
    unless given, and the branch is an option on any arch."""
    with torch.device('meta'):
        huge = RevCol(arch='h')
        plain_h = RevCol(arch='huge', extra_up_branch=False, kernel_size=3)
        t_extra = RevCol(arch='t', extra_up_branch=True)
    assert huge.channels == [360, 720, 1440, 2880]
    assert huge.layers == [1, 2, 6, 2] and huge.num_subnet == 8
    assert huge.kernel_size == 7 and huge.extra_up_branch
    assert huge.subnet1.level0.blocks[0].dwconv.kernel_size == (7, 7)
    assert huge.subnet1.level0.fusion.up2.channel_reschedule[0].weight.shape \
        == (360, 2880)
    assert not hasattr(huge.subnet0.level0.fusion, 'up2')  # first column
    assert not plain_h.extra_up_branch and plain_h.kernel_size == 3
    assert not hasattr(plain_h.subnet1.level0.fusion, 'up2')
    assert hasattr(t_extra.subnet1.level0.fusion, 'up2')
    # the branch adds Linear(C3 -> C0) + LN(C0) to each non-first column
    with torch.device('meta'):
        no_branch = RevCol(arch='h', extra_up_branch=False)
    n = sum(p.numel() for p in huge.parameters())
    n_no_branch = sum(p.numel() for p in no_branch.parameters())
    assert n - n_no_branch == 7 * (2880 * 360 + 3 * 360) == 7265160
    with pytest.raises(ValueError, match='odd'):
        RevCol(arch=TINY, kernel_size=4)


def test_reversible_function_saves_only_kept_columns():
    model = _build(0., 0, True)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(
            lambda t: saved.append(t) or t, lambda t: t):
        x = torch.randn(1, 8, 16, 16, dtype=torch.float64)  # stem output
        cols = model.columns()
        params = [p for c in cols for p in c.parameters()]
        RevColumnsFunction.apply(cols, [], 0, False, x.requires_grad_(),
                                 *params)
    # stem output + the last column's four levels
    assert len(saved) == 5


def test_layer_decay_ids():
    layers, n = [2, 2, 4, 2], 4
    assert revcol_layer_id('backbone.stem.0.weight', layers, n) == 0
    assert revcol_layer_id('backbone.subnet0.level0.blocks.0.dwconv.weight',
                           layers, n) == 1
    assert revcol_layer_id('backbone.subnet2.alpha3', layers, n) == 3
    assert revcol_layer_id('backbone.subnet1.level2.fusion.down.0.weight',
                           layers, n) == 4 + 1 + 1
    assert revcol_layer_id('backbone.subnet3.level3.blocks.1.gamma',
                           layers, n) == 9 + 3 + 1
    assert revcol_layer_id('neck.lateral_convs.0.conv.weight', layers,
                           n) == 14


def test_bad_arch_lists_valid_ones():
    with pytest.raises(ValueError, match=r"unknown arch 'm'.*'t'.*'xl'"):
        RevCol(arch='m')
    with pytest.raises(ValueError, match='misses'):
        RevCol(arch=dict(channels=[8, 16, 24, 32], layers=[1, 1, 1, 1]))
    with pytest.raises(ValueError, match='out_indices'):
        RevCol(arch=TINY, out_indices=(4, ))
