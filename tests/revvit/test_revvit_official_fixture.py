"""RevViT against the official SlowFast Rev-ViT (official fixture).

``tests/data/official/revvit.pt`` is written by
``tools/model_converters/official_fixtures/revvit.py`` from
facebookresearch/SlowFast (``MViT`` with ``MVIT.REV.ENABLE``, seeded
random weights). The official state dict goes through our converter and
is loaded strictly into an mmpretrain ``ImageClassifier`` with ``RevViT``
and ``LinearClsHead``; SlowFast itself is not needed here.
"""
from pathlib import Path

import pytest
import torch
from mmpretrain.registry import MODELS

import projects.revvit.revvit as revvit_module
from projects.revvit import revvit_to_visionplug

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / 'tests/data/official/revvit.pt'


@pytest.fixture(scope='module')
def fixture():
    return torch.load(FIXTURE, weights_only=True)


def build(fixture, dtype, drop_path_rate=0.):
    cfg = fixture['config']
    model = MODELS.build(dict(
        type='ImageClassifier',
        backbone=dict(
            type='RevViT',
            arch=dict(embed_dims=cfg['embed_dims'],
                      num_layers=cfg['num_layers'],
                      num_heads=cfg['num_heads'],
                      feedforward_channels=cfg['feedforward_channels']),
            img_size=cfg['img_size'], patch_size=cfg['patch_size'],
            out_type='avg_featmap', rng_seed=0,
            drop_path_rate=drop_path_rate),
        head=dict(type='LinearClsHead', num_classes=cfg['num_classes'],
                  in_channels=2 * cfg['embed_dims'])))
    converted, dropped = revvit_to_visionplug(fixture['state_dict'])
    assert not dropped
    result = model.load_state_dict(converted, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    return model.to(dtype)


def rel_err(a, b):
    return float((a - b).abs().max() / b.abs().max())


def logits(model, img):
    return model.head(model.extract_feat(img))


def test_float64_eval_matches_official(fixture):
    model = build(fixture, torch.float64)
    model.eval()
    ref = fixture['eval']
    img = fixture['img'].double()
    with torch.no_grad():
        backbone = model.backbone
        x, hw = backbone.patch_embed(img)
        x = x + backbone.pos_embed
        tokens = torch.cat([x, x], dim=-1)
        for layer in backbone.layers:
            x1, x2 = layer(*tokens.chunk(2, dim=-1))
            tokens = torch.cat([x1, x2], dim=-1)
        assert rel_err(tokens, ref['tokens']) < 1e-10
        pooled = model.extract_feat(img)[-1]
        assert rel_err(pooled, ref['pooled']) < 1e-10
        # the official head applies softmax in eval mode
        probs = logits(model, img).softmax(-1)
    assert rel_err(probs, ref['probs']) < 1e-10


def test_float64_reversible_backward_matches_official(fixture):
    """Train mode: both run their reversible backward (RevBackProp);
    logits, input gradient and every parameter gradient agree."""
    model = build(fixture, torch.float64)
    model.train()
    ref = fixture['train']
    img = fixture['img'].double().requires_grad_(True)
    out = logits(model, img)
    assert rel_err(out.detach(), ref['logits']) < 1e-10
    (out * fixture['grad_out']).sum().backward()
    assert rel_err(img.grad, ref['input_grad']) < 1e-10
    ref_grads, _ = revvit_to_visionplug(ref['grads'])
    ours = dict(model.named_parameters())
    assert set(ref_grads) == set(ours)
    for name, grad in ref_grads.items():
        assert rel_err(ours[name].grad, grad) < 1e-10, name
    # the official reversible and plain backward agree to rounding
    assert fixture['rev_vs_vanilla_grad'] < 1e-12


def test_float64_drop_path_replays_official_masks(fixture, monkeypatch):
    """Drop path on: our layers are given the seeds the official layers
    drew (our seeds come from RevViT's own generator otherwise); the
    forward and the reversible backward then agree with SlowFast's."""
    ref = fixture['train_drop_path']
    model = build(fixture, torch.float64, ref['drop_path_rate'])
    model.train()
    # RevViT.forward draws one seed (patch dropout, unused here), then
    # every layer draws attn, droppath, ffn, as the official layers do
    seeds = iter([0] + [s for layer in ref['seeds'] for s in layer])
    monkeypatch.setattr(revvit_module, 'draw_seed', lambda rng: next(seeds))
    img = fixture['img'].double().requires_grad_(True)
    out = logits(model, img)
    assert next(seeds, None) is None  # every seed was used
    assert rel_err(out.detach(), ref['logits']) < 1e-10
    # the masks matter: without drop path the logits differ
    assert rel_err(ref['logits'], fixture['train']['logits']) > 1e-3
    (out * fixture['grad_out']).sum().backward()
    assert rel_err(img.grad, ref['input_grad']) < 1e-10
    ref_grads, _ = revvit_to_visionplug(ref['grads'])
    ours = dict(model.named_parameters())
    for name, grad in ref_grads.items():
        assert rel_err(ours[name].grad, grad) < 1e-10, name


def test_float32_matches_official(fixture):
    model = build(fixture, torch.float32)
    img = fixture['img'].float()
    model.eval()
    with torch.no_grad():
        probs = logits(model, img).softmax(-1)
    torch.testing.assert_close(probs, fixture['fp32']['probs'],
                               rtol=1e-5, atol=1e-5)
    model.train()
    with torch.no_grad():
        out = logits(model, img)
    assert out.dtype == torch.float32
    assert rel_err(out, fixture['fp32']['logits']) < 1e-5
