"""SimpleFPN: shapes and strides, closed forms, gradients, registries."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import projects.simple_fpn  # noqa: F401
from projects.simple_fpn import LayerNorm2d, SimpleFPN


def _fpn(c=32, out=16, num_outs=5, **kwargs):
    return SimpleFPN(backbone_channel=c, in_channels=[c // 4, c // 2, c, c],
                     out_channels=out, num_outs=num_outs, **kwargs)


@pytest.mark.parametrize('num_outs', [4, 5])
@pytest.mark.parametrize('hw', [(8, 8), (6, 10)])
def test_shapes_and_strides(num_outs, hw):
    torch.manual_seed(0)
    h, w = hw
    img = (16 * h, 16 * w)
    x = torch.randn(2, 32, h, w)
    outs = _fpn(num_outs=num_outs)((x, ))
    assert len(outs) == num_outs
    for level, o in enumerate(outs):
        stride = 4 * 2 ** level
        assert o.shape == (2, 16, -(-img[0] // stride), -(-img[1] // stride))


def test_identity_convs_give_closed_form():
    """With identity convs and no norm: P4 = x, P5 = maxpool2(x), P6 = P5[::2]."""
    c = 8
    fpn = _fpn(c=c, out=c, norm_cfg=None).double()
    eye = torch.eye(c, dtype=torch.float64)
    with torch.no_grad():
        for level in (2, 3):
            lat = fpn.lateral_convs[level].conv
            lat.weight.copy_(eye[:, :, None, None])
            lat.bias.zero_()
            conv = fpn.fpn_convs[level].conv
            conv.weight.zero_()
            conv.weight[:, :, 1, 1] = eye
            conv.bias.zero_()
    x = torch.randn(1, c, 6, 6, dtype=torch.float64)
    outs = fpn([x])
    torch.testing.assert_close(outs[2], x, rtol=0, atol=0)
    torch.testing.assert_close(outs[3], F.max_pool2d(x, 2, 2), rtol=0, atol=0)
    torch.testing.assert_close(outs[4], outs[3][:, :, ::2, ::2], rtol=0,
                               atol=0)


def test_layer_norm_2d_matches_channels_last_layer_norm():
    torch.manual_seed(0)
    ln2d = LayerNorm2d(6).double()
    nn.init.normal_(ln2d.weight)
    nn.init.normal_(ln2d.bias)
    ref = nn.LayerNorm(6, eps=1e-6).double()
    ref.load_state_dict(ln2d.state_dict())
    x = torch.randn(2, 6, 3, 5, dtype=torch.float64)
    torch.testing.assert_close(
        ln2d(x), ref(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2))


def test_gradient_reaches_every_parameter_and_input():
    torch.manual_seed(0)
    fpn = _fpn()
    x = torch.randn(1, 32, 4, 4, requires_grad=True)
    sum(o.square().sum() for o in fpn((x, ))).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for name, p in fpn.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    # LN2d norms are ours whatever the default scope is
    assert isinstance(fpn.fpn1[1], LayerNorm2d)
    assert isinstance(fpn.lateral_convs[0].norm, LayerNorm2d)


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg', 'mmpretrain'])
def test_builds_from_downstream_registries(scope):
    import importlib
    registry = importlib.import_module(f'{scope}.registry').MODELS
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope(scope):
        fpn = registry.build(dict(type='SimpleFPN', backbone_channel=16,
                                  in_channels=[4, 8, 16, 16], out_channels=8,
                                  num_outs=5))
        norm = registry.build(dict(type='LN2d', num_channels=8))
    assert isinstance(fpn, SimpleFPN)
    assert isinstance(fpn.fpn_convs[0].norm, LayerNorm2d)
    assert isinstance(norm, nn.Module)


@pytest.mark.parametrize('kwargs,match', [
    (dict(in_channels=[8, 16, 32, 32]), r'\[4, 8, 16, 16\]'),
    (dict(num_outs=3), 'num_outs'),
    (dict(backbone_channel=18), 'multiple of 4'),
])
def test_bad_arguments_fail_clearly(kwargs, match):
    args = dict(backbone_channel=16, in_channels=[4, 8, 16, 16],
                out_channels=8, num_outs=5)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        SimpleFPN(**args)


def test_wrong_input_channels_fail_clearly():
    with pytest.raises(ValueError, match=r'\[N, 32, H, W\]'):
        _fpn()((torch.randn(1, 16, 4, 4), ))
