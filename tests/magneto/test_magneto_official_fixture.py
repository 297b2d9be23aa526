"""MagnetoViT against torchscale's Sub-LN Encoder (official fixture).

``tests/data/official/magneto.pt`` is written by
``tools/model_converters/official_fixtures/magneto.py`` from torchscale
0.3.0 (seeded random weights, LayerNorms included). The torchscale state
dict goes through our converter and is loaded strictly; torchscale itself
is not needed here.
"""
import importlib.util
import math
from pathlib import Path

import pytest
import torch

from projects.magneto import MagnetoViT, magneto_gamma
from projects.magneto.sub_ln import GAMMA_SCALED

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / 'tests/data/official/magneto.pt'


@pytest.fixture(scope='module')
def fixture():
    return torch.load(FIXTURE, weights_only=True)


def load_tool():
    path = ROOT / 'tools/model_converters/magneto_to_visionplug.py'
    spec = importlib.util.spec_from_file_location('magneto_converter', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build(fixture, dtype):
    cfg = fixture['config']
    model = MagnetoViT(
        arch=dict(embed_dims=cfg['embed_dims'], num_layers=cfg['num_layers'],
                  num_heads=cfg['num_heads'],
                  feedforward_channels=cfg['feedforward_channels']),
        img_size=cfg['img_size'], patch_size=cfg['patch_size'],
        out_type='raw')
    converted = load_tool().convert(fixture['state_dict'])
    assert all(k.startswith('backbone.') for k in converted)
    result = model.load_state_dict(
        {k[len('backbone.'):]: v for k, v in converted.items()}, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    model.to(dtype)
    model.eval()  # BaseBackbone.train returns None
    return model


def rel_err(a, b):
    return float((a - b).abs().max() / b.abs().max())


def test_float64_matches_torchscale(fixture):
    model = build(fixture, torch.float64)
    ref = fixture['fp64_exact']
    with torch.no_grad():
        out = model(fixture['img'])[0]
        assert rel_err(out, ref['out']) < 1e-10
        # layer by layer from torchscale's own input tokens
        states = ref['states']
        for i, layer in enumerate(model.layers):
            assert rel_err(layer(states[i]), states[i + 1]) < 1e-10, i
        assert rel_err(model.ln1(states[-1]), ref['out']) < 1e-10


def test_torchscale_float32_casts_are_the_only_gap(fixture):
    """Unpatched, torchscale's softmax(dtype=float32) and GELU(x.float())
    round float64 activations; the fixture's reference removes them."""
    gap = rel_err(fixture['fp64_with_casts']['out'],
                  fixture['fp64_exact']['out'])
    assert 1e-10 < gap < 1e-5


def test_float32_matches_torchscale(fixture):
    model = build(fixture, torch.float32)
    with torch.no_grad():
        out = model(fixture['img'].float())[0]
    ref = fixture['fp32']['out']
    assert out.dtype == torch.float32
    assert rel_err(out, ref) < 1e-5
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


def test_init_scale_equals_torchscale(fixture):
    """torchscale's Sub-LN init_scale (measured as the ratio of subln=True
    to subln=False parameters at equal seeds) is our magneto_gamma, applied
    to the same parameter groups."""
    assert fixture['init_scale']
    for depth, scale in fixture['init_scale'].items():
        assert math.isclose(magneto_gamma(int(depth)), scale, rel_tol=1e-12)
    assert sorted(fixture['init_scaled']) == sorted(GAMMA_SCALED)
    model = MagnetoViT(arch=dict(embed_dims=16, num_layers=4, num_heads=2,
                                 feedforward_channels=32),
                       img_size=16, patch_size=8)
    assert math.isclose(model.gamma, fixture['init_scale']['4'],
                        rel_tol=1e-12)
