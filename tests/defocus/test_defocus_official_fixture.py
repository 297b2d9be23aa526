"""De-focus Mamba against outputs of the official code.

``tests/data/official/defocus.pt`` is written by
``tools/model_converters/official_fixtures/defocus.py`` from
OpenGVLab/De-focus-Attention-Networks (commit in the file): the official
state dict (official key names), the input, and the official
``forward_features`` tokens and ``forward`` logits in float64 and float32,
and the same for the official mmdet detection backbone (``PatchChange``
windows; the stride-16 feature map).
Our converter maps the state dict; our classifier must load it strictly and
reproduce both (relative to the largest official value: float64 1e-10,
float32 1e-5). No network, no official checkout needed.
"""
import contextlib
import importlib.util
from pathlib import Path

import pytest
import torch
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS

from projects.defocus import convert_official, convert_to_official

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / 'tests/data/official/defocus.pt'
SCRIPT = ROOT / 'tools/model_converters/official_fixtures/defocus.py'
TOL = {'float64': 1e-10, 'float32': 1e-5}


def _script():
    spec = importlib.util.spec_from_file_location('defocus_fixture', SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope='module')
def fixture():
    return torch.load(FIXTURE, weights_only=True)


def build_classifier(cfg, scan_impl):
    c = {k: v.item() for k, v in cfg.items()}
    arch = dict(embed_dims=c['embed_dim'],
                intermediate_size=c['intermediate_size'],
                num_layers=c['depth'], time_step_rank=c['time_step_rank'],
                group_norm_size=c['group_norm_size'],
                state_size=c['state_size'])
    init_default_scope('mmpretrain')
    return MODELS.build(dict(
        type='ImageClassifier',
        backbone=dict(type='DefocusMamba', arch=arch,
                      patch_size=c['patch_size'], out_type='raw',
                      delta_scale_factor=c['delta_scale_factor'],
                      rope_scale_factor=c['rope_scale_factor'],
                      scan_impl=scan_impl),
        head=dict(type='DefocusClsHead', num_classes=c['num_classes'],
                  in_channels=c['embed_dim']))).eval()


def rel_diff(ours, ref):
    return ((ours.double() - ref.double()).abs().max()
            / ref.double().abs().max()).item()


def test_fixture_is_official_layout(fixture):
    assert len(fixture['commit']) == 40
    official = fixture['state_dict']
    assert {'patch_embed.proj.weight', 'cls_token', 'norm.weight',
            'norm.bias', 'blocks.1.mixer.freq', 'blocks.0.mixer.A_log',
            'blocks.0.mixer.D', 'head.weight', 'head2.weight'} <= set(official)
    # randomised: nothing left at the official constant initialisation
    assert not torch.equal(official['blocks.0.mixer.D'],
                           torch.ones_like(official['blocks.0.mixer.D']))
    assert official['norm.bias'].abs().min() > 0


@pytest.mark.parametrize('scan_impl', ['auto', 'sequential'])
@pytest.mark.parametrize('dtype', ['float64', 'float32'])
def test_matches_official_outputs(fixture, dtype, scan_impl):
    converted, dropped = convert_official(fixture['state_dict'])
    assert not dropped
    model = build_classifier(fixture['config'], scan_impl)
    result = model.load_state_dict(converted, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    # every official tensor is consumed and maps back unchanged
    back = convert_to_official(model.state_dict())
    assert set(back) == set(fixture['state_dict'])
    for key, value in fixture['state_dict'].items():
        assert torch.equal(back[key], value), key

    dt = getattr(torch, dtype)
    model = model.to(dt)
    x = fixture['input'].to(dt)
    # the official float64 run made its float32 up-casts identities
    ctx = _script().keep_float64() if dtype == 'float64' else \
        contextlib.nullcontext()
    with torch.no_grad(), ctx:
        tokens = model.backbone(x)
        cls_logits = model.head(tokens)
        aux_logits = model.head.aux_logits(tokens)
    ref = fixture[dtype]
    assert tokens[-1].dtype == dt
    assert rel_diff(tokens[-1], ref['features']) < TOL[dtype]
    # official forward: head2 on the image tokens, head on the cls token
    assert rel_diff(cls_logits, ref['logits'][:, -1]) < TOL[dtype]
    assert rel_diff(aux_logits, ref['logits'][:, :-1]) < TOL[dtype]


@pytest.mark.parametrize('scan_impl', ['auto', 'sequential'])
@pytest.mark.parametrize('dtype', ['float64', 'float32'])
def test_matches_official_detection_backbone(fixture, dtype, scan_impl):
    """Official mmdet backbone with ``PatchChange`` windows (corner padding
    to whole windows, map cropped back) and LayerNorm eps 1e-5."""
    det = fixture['detection']
    converted, dropped = convert_official(det['state_dict'],
                                          backbone_only=True)
    assert not dropped
    assert 'backbone.patch_embed.projection.weight' in det['state_dict']
    c = {k: v.item() for k, v in det['config'].items()}
    init_default_scope('mmpretrain')
    model = MODELS.build(dict(
        type='DefocusMamba', patch_size=c['patch_size'], out_type='featmap',
        arch=dict(embed_dims=c['embed_dim'],
                  intermediate_size=c['intermediate_size'],
                  num_layers=c['depth'], time_step_rank=c['time_step_rank'],
                  group_norm_size=c['group_norm_size'],
                  state_size=c['state_size']),
        window_size=c['pretrain_size'] // c['patch_size'],
        final_norm_eps=1e-5, delta_scale_factor=c['delta_scale_factor'],
        rope_scale_factor=c['rope_scale_factor'], scan_impl=scan_impl))
    model.load_state_dict(
        {k[len('backbone.'):]: v for k, v in converted.items()}, strict=True)
    dt = getattr(torch, dtype)
    model = model.to(dt).eval()
    ctx = _script().keep_float64() if dtype == 'float64' else \
        contextlib.nullcontext()
    with torch.no_grad(), ctx:
        fmap = model(det['input'].to(dt))[0]
    ref = det[dtype]['featmap']
    assert fmap.shape == ref.shape == (2, c['embed_dim'], 5, 7)
    assert rel_diff(fmap, ref) < TOL[dtype]


def test_float32_fixture_agrees_with_float64(fixture):
    """The two official runs agree (a sanity check of the fixture)."""
    assert rel_diff(fixture['float32']['logits'],
                    fixture['float64']['logits']) < 1e-5
    det = fixture['detection']
    assert rel_diff(det['float32']['featmap'],
                    det['float64']['featmap']) < 1e-5
