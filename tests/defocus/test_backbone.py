"""DefocusMamba: variants, outputs, size checks, causality, the bandpass."""
import math

import pytest
import torch

from projects.defocus import (ARCH_SETTINGS, DefocusMamba, bandpass_rotate,
                              default_frequencies, rotate_every_two)
from projects.defocus.defocus_mamba import (DefocusMixer, group_rms_norm,
                                            window_order, window_unorder)

TINY = dict(embed_dims=32, intermediate_size=64, num_layers=2,
            time_step_rank=4, group_norm_size=32, state_size=8)
# README parameter counts with the two classifiers (1k Linear; Large: the
# 22k Linear-Tanh-Linear heads with 3 * D hidden units)
README_PARAMS = {'small': 25.1, 'base': 92.7, 'large': 330.1}


@pytest.mark.parametrize('arch', sorted(ARCH_SETTINGS))
def test_variant_widths_shapes_and_parameter_counts(arch):
    settings = ARCH_SETTINGS[arch]
    dims, depth = settings['embed_dims'], settings['num_layers']
    one = DefocusMamba(arch=dict(settings, num_layers=1))
    x = torch.randn(1, 3, 32, 48)
    with torch.no_grad():
        (fmap, ) = one(x)
        one.out_type = 'raw'
        (tokens, ) = one(x)
        one.out_type = 'cls_token'
        (cls, ) = one(x)
    assert fmap.shape == (1, dims, 2, 3)
    assert tokens.shape == (1, 2 * 3 + 1, dims)
    assert torch.equal(cls, tokens[:, -1])
    assert torch.equal(fmap.flatten(2).transpose(1, 2), tokens[:, :-1])
    block = sum(p.numel() for p in one.blocks[0].parameters())
    total = sum(p.numel() for p in one.parameters()) + (depth - 1) * block
    hidden = 3 * dims if arch == 'large' else None
    head = (dims * hidden + hidden + hidden * 1000 + 1000) if hidden \
        else dims * 1000 + 1000
    assert abs((total + 2 * head) / 1e6 - README_PARAMS[arch]) < 0.05


def test_arch_aliases_and_errors():
    assert DefocusMamba(arch=dict(TINY)).embed_dims == 32
    with pytest.raises(ValueError,
                       match=r"unknown arch 'huge'.*'base'.*'large'.*'small'"):
        DefocusMamba(arch='huge')
    with pytest.raises(ValueError, match='missing'):
        DefocusMamba(arch=dict(embed_dims=32))
    with pytest.raises(ValueError, match='out_type'):
        DefocusMamba(arch=TINY, out_type='avg')


def test_input_size_must_be_a_multiple_of_the_patch_size():
    model = DefocusMamba(arch=TINY, patch_size=16)
    with pytest.raises(ValueError,
                       match=r'40x64 must be a multiple of the patch size 16 '
                       r'\(e\.g\. 48x64\)'):
        model(torch.randn(1, 3, 40, 64))


def test_window_order_round_trip_and_padded_windows():
    x = torch.arange(2 * 3 * 4 * 6, dtype=torch.float32).view(2, 3, 4, 6)
    tokens = window_order(x, 2)
    assert tokens[0, :4, 0].tolist() == [0, 1, 6, 7]  # first 2x2 window
    assert torch.equal(window_unorder(tokens, 2, 4, 6), x)
    torch.manual_seed(0)
    model = DefocusMamba(arch=TINY, patch_size=8, window_size=2).eval()
    with torch.no_grad():
        (fmap, ) = model(torch.randn(1, 3, 24, 40))  # 3x5 tokens -> 4x6
    assert fmap.shape == (1, 32, 3, 5)
    # one window covering the whole grid = raster order
    plain = DefocusMamba(arch=TINY, patch_size=8).eval()
    plain.load_state_dict(model.state_dict())
    img = torch.randn(1, 3, 32, 32)
    model.window_size = 4
    with torch.no_grad():
        assert torch.allclose(model(img)[0], plain(img)[0], atol=1e-6)


def test_backbone_is_causal_in_scan_order():
    torch.manual_seed(0)
    model = DefocusMamba(arch=TINY, patch_size=8, out_type='raw').eval()
    img = torch.randn(1, 3, 32, 32)  # 4x4 patches, raster order
    with torch.no_grad():
        base = model(img)[0]
        moved = img.clone()
        moved[:, :, 16:24, 8:16] += 1.0  # patch (2, 1) = token 9
        out = model(moved)[0]
    assert torch.allclose(out[:, :9], base[:, :9], atol=1e-6)
    assert not torch.allclose(out[:, 9:], base[:, 9:], atol=1e-3)


def test_bandpass_rotation_properties():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 7, 8, generator=g, dtype=torch.float64)
    pos = torch.arange(7, dtype=torch.float64) / 3.0
    # zero frequency: identity
    assert torch.equal(bandpass_rotate(x, torch.zeros(8), pos), x)
    # tied pair frequencies: a rotation per pair (norms kept, relative
    # positions only: <R_p b, R_q c> depends on q - p)
    tied = torch.rand(4, generator=g, dtype=torch.float64).repeat_interleave(2)
    rot = bandpass_rotate(x, tied, pos)
    pair_norm = x.view(2, 7, 4, 2).norm(dim=-1)
    assert torch.allclose(rot.view(2, 7, 4, 2).norm(dim=-1), pair_norm,
                          atol=1e-12)
    b, c = x[0, 0], x[1, 0]
    inner = [(bandpass_rotate(b.expand(7, 8), tied, pos)[p] *
              bandpass_rotate(c.expand(7, 8), tied, pos)[p + 2]).sum()
             for p in range(5)]
    assert torch.allclose(torch.stack(inner), inner[0].expand(5), atol=1e-12)
    # official per-member angles: out[2k] uses freq[2k], out[2k+1] freq[2k+1]
    freq = default_frequencies(8).double()
    theta = pos[:, None] * freq[None]
    out = bandpass_rotate(x, freq, pos)
    assert torch.allclose(out[..., 0], x[..., 0] * theta[:, 0].cos()
                          - x[..., 1] * theta[:, 0].sin(), atol=1e-12)
    assert torch.allclose(out[..., 1], x[..., 1] * theta[:, 1].cos()
                          + x[..., 0] * theta[:, 1].sin(), atol=1e-12)
    assert rotate_every_two(torch.tensor([1., 2., 3., 4.])).tolist() == \
        [-2., 1., -4., 3.]
    k = torch.arange(1, 9)
    assert torch.allclose(default_frequencies(8),
                          (100 ** (-k / 8) - 0.01) / 0.99)


def test_zero_frequency_mixer_is_plain_mamba_and_group_norm():
    torch.manual_seed(0)
    rope = DefocusMixer(16, 32, state_size=4, time_step_rank=2,
                        group_norm_size=8).double()
    plain = DefocusMixer(16, 32, state_size=4, time_step_rank=2,
                         group_norm_size=8, use_rope=False).double()
    state = {k: v for k, v in rope.state_dict().items() if k != 'freq'}
    plain.load_state_dict(state)
    x = torch.randn(2, 9, 16, dtype=torch.float64)
    with torch.no_grad():
        rope.freq.zero_()
        assert torch.allclose(rope(x), plain(x), atol=1e-12)
        rope.freq.copy_(default_frequencies(4))
        assert not torch.allclose(rope(x), plain(x), atol=1e-6)
    y = torch.randn(2, 32, 5, dtype=torch.float64) * 3
    rms = group_rms_norm(y, 8, eps=0).view(2, 4, 8, 5).pow(2).mean(2).sqrt()
    assert torch.allclose(rms, torch.ones_like(rms), atol=1e-12)


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    model = DefocusMamba(arch=TINY, patch_size=8, drop_path_rate=0.0)
    model.train()
    img = torch.randn(2, 3, 16, 24)
    model(img)[0].square().mean().backward()
    # the cls token comes last: no image feature depends on it (causal)
    assert torch.equal(model.cls_token.grad,
                       torch.zeros_like(model.cls_token))
    model.zero_grad()
    model.out_type = 'raw'
    model(img)[0].square().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
    assert math.isclose(model.block_drop_rates()[-1], 0.0)
