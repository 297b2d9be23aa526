"""LinAngularAttention and CastlingViT against the released block.

``tests/data/official/castling_vit.pt`` is written by
``tools/model_converters/official_fixtures/castling_vit.py`` from
GATECH-EIC/Castling-ViT ``attention.py`` (seeded random weights): the
block alone, and the block inside a timm DeiT-layout ViT host (the release
has no host network). The release's ``sparse_reg=True`` corresponds to our
training mode with the per-head masks at 1.0, ``sparse_reg=False`` to our
eval mode. The release itself is not needed here.
"""
import importlib.util
from pathlib import Path

import pytest
import torch
from mmpretrain.registry import MODELS

import projects.castling_vit  # noqa: F401  (registers CastlingViT)
from projects.castling_vit import LinAngularAttention

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / 'tests/data/official/castling_vit.pt'
MODES = [('linear', 'eval'), ('sparse', 'train')]


@pytest.fixture(scope='module')
def fixture():
    return torch.load(FIXTURE, weights_only=True)


def load_tool():
    path = ROOT / 'tools/model_converters/castling_vit_to_visionplug.py'
    spec = importlib.util.spec_from_file_location('castling_converter', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rel_err(a, b):
    return float((a - b).abs().max() / b.abs().max())


def set_mode(module, mode):
    module.train() if mode == 'train' else module.eval()


@pytest.mark.parametrize('key,mode', MODES)
def test_block_float64_matches_release(fixture, key, mode):
    ref = fixture['block']
    dims = ref['x'].shape[-1]
    heads = ref['state_dict']['dconv.weight'].shape[0]
    attn = LinAngularAttention(dims, heads, qkv_bias=False).double()
    state = dict(ref['state_dict'], aux_mask=torch.ones(heads))
    result = attn.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    set_mode(attn, mode)
    assert attn.uses_aux_branch() == (key == 'sparse')
    x = ref['x'].clone().requires_grad_(True)
    out = attn(x)
    assert rel_err(out.detach(), ref[key]['out']) < 1e-10
    (out * ref['grad_out']).sum().backward()
    assert rel_err(x.grad, ref[key]['input_grad']) < 1e-10
    params = dict(attn.named_parameters())
    for name, grad in ref[key]['grads'].items():
        assert rel_err(params[name].grad, grad) < 1e-10, name


def build_model(fixture, dtype):
    ref = fixture['model']
    cfg = ref['config']
    model = MODELS.build(dict(
        type='ImageClassifier',
        backbone=dict(
            type='CastlingViT',
            arch=dict(embed_dims=cfg['embed_dims'],
                      num_layers=cfg['num_layers'],
                      num_heads=cfg['num_heads'],
                      feedforward_channels=cfg['feedforward_channels']),
            img_size=cfg['img_size'], patch_size=cfg['patch_size'],
            out_type='cls_token'),
        head=dict(type='LinearClsHead', num_classes=cfg['num_classes'],
                  in_channels=cfg['embed_dims'])))
    converted = load_tool().convert(ref['state_dict'], aux_mask=1.0)
    result = model.load_state_dict(converted, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    return model.to(dtype)


def logits(model, img):
    return model.head(model.extract_feat(img))


@pytest.mark.parametrize('key,mode', MODES)
def test_model_float64_matches_release(fixture, key, mode):
    ref = fixture['model']
    model = build_model(fixture, torch.float64)
    set_mode(model, mode)
    out = logits(model, ref['img'])
    assert rel_err(out.detach(), ref[key]['logits']) < 1e-10
    (out * ref['grad_out']).sum().backward()
    ref_grads = load_tool().convert(ref[key]['grads'], aux_mask=None)
    params = dict(model.named_parameters())
    assert set(ref_grads) == set(params) - {
        n for n in params if n.endswith('aux_mask')}
    for name, grad in ref_grads.items():
        assert rel_err(params[name].grad, grad) < 1e-10, name


@pytest.mark.parametrize('key,mode', MODES)
def test_model_float32_matches_release(fixture, key, mode):
    ref = fixture['model']
    model = build_model(fixture, torch.float32)
    set_mode(model, mode)
    with torch.no_grad():
        out = logits(model, ref['img'].float())
    assert out.dtype == torch.float32
    assert rel_err(out, ref[key]['fp32_logits']) < 1e-5


def test_release_branches_differ(fixture):
    """The thresholded softmax branch changes the release's outputs, so the
    two modes above are distinct checks."""
    block, model = fixture['block'], fixture['model']
    assert rel_err(block['linear']['out'], block['sparse']['out']) > 0.01
    assert rel_err(model['linear']['logits'], model['sparse']['logits']) > 0.01


def test_switched_model_is_the_release_inference_form(fixture):
    """After switch_to_linear() (no masks left) the model is the release's
    sparse_reg=False network, in training mode too."""
    ref = fixture['model']
    model = build_model(fixture, torch.float64).eval()
    model.backbone.switch_to_linear()
    model.train()
    with torch.no_grad():
        out = logits(model, ref['img'])
    assert rel_err(out, ref['linear']['logits']) < 1e-10
