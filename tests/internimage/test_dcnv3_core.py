"""DCNv3 core: the vectorised PyTorch path against independent references,
gradients, the module at initialisation, and backend selection."""
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
from dcnv3_reference import dcnv3_loop, depthwise_closed_form  # noqa: E402

from projects.internimage import DCNv3, dcnv3_core, dcnv3_core_pytorch  # noqa: E402,E501

core_module = sys.modules['projects.internimage.dcnv3_core']

# (kernel, stride, pad, dilation, group, offset_scale, remove_center)
CASES = {
    'internimage': (3, 1, 1, 1, 2, 1.0, False),
    'offset-scale-2-no-centre': (3, 1, 1, 1, 2, 2.0, True),
    'stride-2-dilation-2': (3, 2, 2, 2, 3, 1.0, False),
    'kernel-5-no-pad': (5, 1, 0, 1, 1, 0.5, False),
    'even-kernel': (2, 1, 0, 1, 2, 1.0, False),
}


def make_inputs(kernel, stride, pad, dilation, group, remove_center,
                size=(5, 6), group_channels=3, seed=0, offset_std=1.5,
                batch=2):
    g = torch.Generator().manual_seed(seed)
    h, w = size
    h_out = (h + 2 * pad - (dilation * (kernel - 1) + 1)) // stride + 1
    w_out = (w + 2 * pad - (dilation * (kernel - 1) + 1)) // stride + 1
    points = kernel * kernel - int(remove_center)
    x = torch.randn(batch, h, w, group * group_channels, generator=g,
                    dtype=torch.float64)
    offset = offset_std * torch.randn(batch, h_out, w_out, group * points * 2,
                                      generator=g, dtype=torch.float64)
    mask = torch.rand(batch, h_out, w_out, group * points, generator=g,
                      dtype=torch.float64)
    return x, offset, mask


def core_args(kernel, stride, pad, dilation, group, group_channels,
              offset_scale, remove_center):
    return (kernel, kernel, stride, stride, pad, pad, dilation, dilation,
            group, group_channels, offset_scale, remove_center)


@pytest.mark.parametrize('case', sorted(CASES))
def test_core_matches_bilinear_loop(case):
    """Offsets of ~1.5 px move points across pixels and out of the image
    (zeros there); every point is summed with its own weight."""
    k, s, p, d, g, scale, rc = CASES[case]
    x, offset, mask = make_inputs(k, s, p, d, g, rc)
    out = dcnv3_core_pytorch(x, offset, mask,
                             *core_args(k, s, p, d, g, 3, scale, rc))
    ref = dcnv3_loop(x, offset, mask, k, s, p, d, g, scale, rc)
    assert out.shape == ref.shape
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-6)


@pytest.mark.parametrize('kernel,stride,pad,dilation,scale', [
    (3, 1, 1, 1, 1.0), (3, 2, 1, 1, 1.0), (5, 1, 2, 1, 1.0),
    (3, 1, 2, 1, 2.0)])
def test_zero_offsets_are_depthwise_conv(kernel, stride, pad, dilation,
                                         scale):
    """Zero offsets, the same softmaxed weights at every pixel: a grouped
    depthwise conv; offset_scale s stretches the grid like dilation s."""
    group, gc = 2, 3
    x, _, _ = make_inputs(kernel, stride, pad, dilation, group, False,
                          size=(7, 8), group_channels=gc)
    h_out, w_out = [(n + 2 * pad - (dilation * scale * (kernel - 1) + 1))
                    // stride + 1 for n in (7, 8)]
    h_out, w_out = int(h_out), int(w_out)
    logits = torch.randn(group, kernel * kernel, dtype=torch.float64)
    weights = logits.softmax(-1)
    # The core's output size ignores offset_scale; compare the interior it
    # shares with the dilated convolution.
    core_pad = pad - (kernel - 1) // 2 * (int(scale) - 1)
    h_core = (7 + 2 * core_pad - (dilation * (kernel - 1) + 1)) // stride + 1
    w_core = (8 + 2 * core_pad - (dilation * (kernel - 1) + 1)) // stride + 1
    offset = torch.zeros(2, h_core, w_core, group * kernel * kernel * 2,
                         dtype=torch.float64)
    mask = weights.reshape(1, 1, 1, -1).expand(2, h_core, w_core, -1)
    out = dcnv3_core_pytorch(
        x, offset, mask.contiguous(),
        *core_args(kernel, stride, core_pad, dilation, group, gc, scale,
                   False))
    ref = depthwise_closed_form(x, weights, kernel, stride, pad,
                                int(dilation * scale), group)
    assert out.shape == ref.shape == (2, h_out, w_out, group * gc)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-6)


def test_gradcheck():
    """Input, offset and weight gradients (float64, points off the pixel
    grid so bilinear sampling is differentiable there)."""
    k, s, p, d, g, scale, rc = 3, 1, 1, 1, 2, 2.0, True
    x, offset, mask = make_inputs(k, s, p, d, g, rc, size=(2, 3),
                                  group_channels=1, offset_std=0.7, batch=1)
    offset = offset + 0.123  # keep away from integer sampling positions
    inputs = [t.clone().requires_grad_() for t in (x, offset, mask)]
    assert torch.autograd.gradcheck(
        lambda a, b, c: dcnv3_core_pytorch(
            a, b, c, *core_args(k, s, p, d, g, 1, scale, rc)),
        inputs, eps=1e-6, atol=1e-7)


@pytest.mark.parametrize('center_feature_scale', [False, True])
def test_module_at_init_is_box_filter(center_feature_scale):
    """Zero offset/mask linears: uniform 1/9 weights over the 3x3 grid, i.e.
    a zero-padded box filter of input_proj(x); the centre-feature gate is
    sigmoid(0) = 1/2."""
    torch.manual_seed(0)
    m = DCNv3(8, group=2, center_feature_scale=center_feature_scale).double()
    x = torch.randn(2, 5, 6, 8, dtype=torch.float64)
    proj = m.input_proj(x)
    box = F.avg_pool2d(proj.permute(0, 3, 1, 2), 3, 1, 1,
                       count_include_pad=True).permute(0, 2, 3, 1)
    if center_feature_scale:
        box = 0.5 * box + 0.5 * proj
    torch.testing.assert_close(m(x), m.output_proj(box), rtol=0, atol=1e-12)


def test_backend_selection(monkeypatch):
    x, offset, mask = make_inputs(3, 1, 1, 1, 2, False)
    args = core_args(3, 1, 1, 1, 2, 3, 1.0, False)
    # CPU tensors: 'auto' is the PyTorch core even when the op is present
    monkeypatch.setattr(core_module, 'compiled_extension',
                        lambda: (object(), True))
    torch.testing.assert_close(dcnv3_core(x, offset, mask, *args),
                               dcnv3_core_pytorch(x, offset, mask, *args))
    with pytest.raises(RuntimeError, match='CUDA tensors'):
        dcnv3_core(x, offset, mask, *args, impl='compiled')
    with pytest.raises(ValueError, match='impl must be'):
        dcnv3_core(x, offset, mask, *args, impl='cuda')


def test_compiled_function_calls_official_signature(monkeypatch):
    """The autograd wrapper passes the official extension's arguments
    (forward: ..., offset_scale, im2col_step[, remove_center]; backward:
    ..., offset_scale, grad_output, im2col_step[, remove_center])."""
    calls = {}

    class FakeExt:
        @staticmethod
        def dcnv3_forward(*args):
            calls['forward'] = args
            return dcnv3_core_pytorch(*args[:14], args[15])

        @staticmethod
        def dcnv3_backward(*args):
            calls['backward'] = args
            with torch.enable_grad():
                inp = [t.detach().requires_grad_() for t in args[:3]]
                out = dcnv3_core_pytorch(*inp, *args[3:14], args[16])
                return torch.autograd.grad(out, inp, args[14])

    monkeypatch.setattr(core_module, 'compiled_extension',
                        lambda: (FakeExt, True))
    x, offset, mask = make_inputs(3, 1, 1, 1, 2, True)
    inputs = [t.clone().requires_grad_() for t in (x, offset, mask)]
    args = core_args(3, 1, 1, 1, 2, 3, 2.0, True)[:-1]
    out = core_module.DCNv3CompiledFunction.apply(*inputs, *args, 64, True)
    out.sum().backward()
    assert calls['forward'][3:] == (*args, 64, 1)
    assert calls['backward'][3:14] == args and calls['backward'][15:] == (64, 1)
    ref = [t.clone().requires_grad_() for t in (x, offset, mask)]
    dcnv3_core_pytorch(*ref, *args, True).sum().backward()
    for a, b in zip(inputs, ref):
        torch.testing.assert_close(a.grad, b.grad)


def test_shape_errors():
    x, offset, mask = make_inputs(3, 1, 1, 1, 2, False)
    with pytest.raises(ValueError, match='offset must be'):
        dcnv3_core_pytorch(x, offset[..., :-2], mask,
                           *core_args(3, 1, 1, 1, 2, 3, 1.0, False))
    with pytest.raises(ValueError, match='expected group'):
        dcnv3_core_pytorch(x, offset, mask,
                           *core_args(3, 1, 1, 1, 2, 2, 1.0, False))
    with pytest.raises(ValueError, match='divisible'):
        DCNv3(10, group=4)
