"""InternImage backbone: levels and strides, odd input sizes, parameter
counts of the official variants, official names, block options."""
import math

import pytest
import torch
from mmengine.registry import MODELS

from projects.internimage import (ARCH_SETTINGS, InternImage,
                                  InternImageClsHead, count_params)


def test_t_levels_strides_channels():
    model = InternImage('t').eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 64, 96))
    assert [tuple(o.shape) for o in outs] == [
        (1, 64, 16, 24), (1, 128, 8, 12), (1, 256, 4, 6), (1, 512, 2, 3)]
    assert model.num_features == [64, 128, 256, 512]


@pytest.mark.parametrize('size', [(50, 70), (33, 97), (31, 31)])
def test_any_input_size_ceil_halving(size):
    """No padding to a multiple of 32 (as the official code): every
    stride-2 conv (k3, p1) maps s -> ceil(s / 2)."""
    model = InternImage('nano', out_indices=(0, 1, 2, 3)).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, *size))
    for i, out in enumerate(outs):
        expect = list(size)
        for _ in range(i + 2):
            expect = [math.ceil(s / 2) for s in expect]
        assert list(out.shape[2:]) == expect


def test_out_indices_subset_and_negative():
    model = InternImage('nano', out_indices=(1, -1)).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 32, 32))
    assert [o.shape[1] for o in outs] == [32, 128]
    with pytest.raises(ValueError, match='out_indices'):
        InternImage('nano', out_indices=(4, ))


@pytest.mark.parametrize('arch,published', [('t', 30e6), ('s', 50e6),
                                            ('b', 97e6)])
def test_param_counts_match_published(arch, published):
    """Backbone + official classification head (1000 classes), counted on
    the meta device."""
    with torch.device('meta'):
        backbone = InternImage(arch, out_indices=(3, ))
        head = InternImageClsHead(1000, backbone.num_features[-1])
    total = count_params(backbone) + count_params(head)
    assert abs(total - published) / published < 0.01


def test_unknown_arch_lists_valid_ones():
    with pytest.raises(ValueError) as err:
        InternImage('huge')
    for name in ARCH_SETTINGS:
        assert repr(name) in str(err.value)
    with pytest.raises(ValueError, match='missing keys'):
        InternImage(dict(channels=16, depths=(1, 1, 1, 1)))


def test_official_parameter_names():
    with torch.device('meta'):
        t = set(InternImage('t').state_dict())
    s = set(InternImage(dict(channels=16, depths=(1, 1, 1, 1),
                             groups=(1, 2, 4, 8), layer_scale=1e-5,
                             post_norm=True)).state_dict())
    for key in ('patch_embed.conv1.weight', 'patch_embed.norm1.1.weight',
                'patch_embed.norm2.1.bias', 'levels.0.downsample.conv.weight',
                'levels.0.downsample.norm.1.weight',
                'levels.2.blocks.17.dcn.dw_conv.0.weight',
                'levels.2.blocks.17.dcn.dw_conv.1.1.weight',
                'levels.3.blocks.3.dcn.offset.weight',
                'levels.3.blocks.3.dcn.mask.bias',
                'levels.3.blocks.3.dcn.input_proj.weight',
                'levels.3.blocks.3.dcn.output_proj.weight',
                'levels.1.blocks.0.norm1.0.weight',
                'levels.1.blocks.0.mlp.fc2.weight', 'levels.3.norm.0.weight'):
        assert key in t, key
    assert not any('gamma' in k or 'downsample' in k and 'levels.3' in k
                   for k in t)
    # post-norm with layer scale (S/B/L/XL): gammas, no level norms
    assert 'levels.0.blocks.0.gamma1' in s and 'levels.0.blocks.0.gamma2' in s
    assert not any(k.startswith('levels.0.norm.') for k in s)
    dcn = InternImage('nano').levels[0].blocks[0].dcn  # official init:
    assert dcn.offset.weight.abs().sum() == 0  # zero offsets
    assert dcn.mask.weight.abs().sum() == 0  # uniform point weights


def test_layer_scale_one_equals_no_layer_scale():
    """The official det/seg configs build T with layer_scale=1.0 and load
    the classification weights (no gammas): same function at load time."""
    torch.manual_seed(0)
    plain = InternImage('nano').eval()
    scaled = InternImage('nano', layer_scale=1.0).eval()
    missing, unexpected = scaled.load_state_dict(plain.state_dict(),
                                                 strict=False)
    assert unexpected == [] and missing and all('gamma' in k for k in missing)
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        for a, b in zip(plain(x), scaled(x)):
            torch.testing.assert_close(a, b)


def test_post_norm_block_formula():
    """post_norm: x + g * LN(op(x)); checked on one block with the DCNv3
    and MLP branches replaced by known maps."""
    model = InternImage(dict(channels=16, depths=(1, 1, 1, 1),
                             groups=(1, 2, 4, 8), layer_scale=0.5,
                             post_norm=True))
    block = model.levels[0].blocks[0]
    block.dcn = torch.nn.Linear(16, 16)
    block.mlp = torch.nn.Linear(16, 16)
    x = torch.randn(2, 3, 3, 16)
    y = x + 0.5 * block.norm1(block.dcn(x))
    y = y + 0.5 * block.norm2(block.mlp(y))
    torch.testing.assert_close(block(x), y)


def test_with_cp_same_gradients_and_frozen_stages():
    torch.manual_seed(0)
    a = InternImage('nano')
    b = InternImage('nano', with_cp=True)
    b.load_state_dict(a.state_dict())
    x = torch.randn(1, 3, 32, 32)
    sum(o.sum() for o in a(x)).backward()
    sum(o.sum() for o in b(x)).backward()
    for (name, pa), pb in zip(a.named_parameters(), b.parameters()):
        torch.testing.assert_close(pa.grad, pb.grad, msg=name)
    frozen = InternImage('nano', frozen_stages=1).train()
    assert not any(p.requires_grad for p in frozen.patch_embed.parameters())
    assert not any(p.requires_grad for p in frozen.levels[0].parameters())
    assert all(p.requires_grad for p in frozen.levels[1].parameters())
    assert not frozen.levels[0].training and frozen.levels[1].training


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg', 'mmpretrain'])
def test_registered_in_root_registry(scope):
    import importlib
    registry = importlib.import_module(f'{scope}.registry').MODELS
    assert registry.get('InternImage') is InternImage
    assert MODELS.get('InternImage') is InternImage
