"""ConformerDense against the official Conformer (official fixture).

``tests/data/official/conformer.pt`` is written by
``tools/model_converters/official_fixtures/conformer.py`` from
pengzhiliang/Conformer (seeded random weights): the classification
``Conformer`` and the detection backbone of its mmdetection fork. The
official state dicts go through our converter (the detection one with the
``backbone.`` prefix of an mmdet checkpoint) and are loaded into
``ConformerDense`` (+ mmpretrain's ``ConformerHead``); the official code is
not needed here.
"""
from pathlib import Path

import pytest
import torch
from mmpretrain.registry import MODELS
from torch.nn.modules.batchnorm import _BatchNorm

from projects.conformer import ConformerDense, conformer_to_visionplug

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / 'tests/data/official/conformer.pt'
# The official detection backbone (return_cls_token=False) has no
# trans_norm; ConformerDense keeps mmpretrain's, unused by its maps.
DET_MISSING = {'trans_norm.weight', 'trans_norm.bias'}


@pytest.fixture(scope='module')
def fixture():
    return torch.load(FIXTURE, weights_only=True)


def rel_err(a, b):
    return float((a - b).abs().max() / b.abs().max())


def arch(cfg):
    return dict(embed_dims=cfg['embed_dim'], channel_ratio=cfg[
        'channel_ratio'], num_heads=cfg['num_heads'], depths=cfg['depth'])


def build_cls(fixture, dtype):
    cfg = fixture['cls']['config']
    c3 = int(256 * cfg['channel_ratio'])
    model = MODELS.build(dict(
        type='ImageClassifier',
        backbone=dict(type='ConformerDense', arch=arch(cfg),
                      patch_size=cfg['patch_size'], out_type='pooled',
                      out_indices=(cfg['depth'], ), norm_eval=False),
        head=dict(type='ConformerHead', num_classes=cfg['num_classes'],
                  in_channels=[c3, cfg['embed_dim']])))
    converted, dropped = conformer_to_visionplug(fixture['cls']['state_dict'])
    assert not dropped
    result = model.load_state_dict(converted, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    return model.to(dtype)


def build_det(fixture, dtype=torch.float64, **kwargs):
    cfg = fixture['det']['config']
    model = ConformerDense(arch=arch(cfg), patch_size=cfg['patch_size'],
                           out_indices=(4, 8, 11, 12),
                           norm_eval=cfg['norm_eval'],
                           frozen_stages=cfg['frozen_stages'], **kwargs)
    mmdet_ckpt = {'backbone.' + k: v
                  for k, v in fixture['det']['state_dict'].items()}
    converted, dropped = conformer_to_visionplug(mmdet_ckpt)
    assert not dropped
    result = model.load_state_dict(
        {k[len('backbone.'):]: v for k, v in converted.items()},
        strict=False)
    assert set(result.missing_keys) == DET_MISSING
    assert not result.unexpected_keys
    return model.to(dtype).eval()


@pytest.mark.parametrize('mode', ['eval', 'train'])
def test_classification_matches_official(fixture, mode):
    """[conv_cls, tran_cls] in eval mode (running statistics) and train
    mode (batch statistics), float64 and float32."""
    ref = fixture['cls']
    for dtype, tag, bound in ((torch.float64, '', 1e-10),
                              (torch.float32, 'fp32_', 1e-5)):
        model = build_cls(fixture, dtype)
        model.train(mode == 'train')
        with torch.no_grad():
            outs = model.head(model.extract_feat(ref['img'].to(dtype)))
        for ours, theirs in zip(outs, ref[tag + mode]):
            assert ours.dtype == dtype
            assert rel_err(ours, theirs) < bound, (tag, mode)


def test_detection_maps_and_gradient_match_official(fixture):
    ref = fixture['det']
    model = build_det(fixture)
    x = ref['img'].double().requires_grad_(True)
    maps = model(x)
    assert len(maps) == len(ref['maps'])
    for ours, theirs in zip(maps, ref['maps']):
        assert ours.shape == theirs.shape
        assert rel_err(ours.detach(), theirs) < 1e-10
    sum((m * g).sum() for m, g in zip(maps, ref['grad_out'])).backward()
    assert rel_err(x.grad, ref['input_grad']) < 1e-10
    model = build_det(fixture, torch.float32)
    with torch.no_grad():
        maps = model(ref['img'])
    for ours, theirs in zip(maps, ref['fp32_maps']):
        assert rel_err(ours, theirs) < 1e-5


def test_detection_freezing_matches_official(fixture):
    """The official backbone's settings (norm_eval=True, frozen_stages=1)
    freeze the stem and keep every BatchNorm in eval mode in train()."""
    ref = fixture['det']
    model = build_det(fixture)
    model.train()
    frozen = sorted(n for n, p in model.named_parameters()
                    if not p.requires_grad)
    assert frozen == ref['frozen_params']
    bn_eval = sorted(n for n, m in model.named_modules()
                     if isinstance(m, _BatchNorm) and not m.training)
    assert bn_eval == ref['bn_eval']
