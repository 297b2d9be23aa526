"""Official checkpoint layout -> VisionPlug classifier, all keys consumed."""
import importlib.util
from pathlib import Path

import pytest
import torch
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS

from projects.defocus import convert_official, convert_to_official

ROOT = Path(__file__).resolve().parents[2]
TINY = dict(embed_dims=32, intermediate_size=64, num_layers=2,
            time_step_rank=4, group_norm_size=32, state_size=8)


def build_classifier(hidden_dims=None):
    init_default_scope('mmpretrain')
    return MODELS.build(dict(
        type='ImageClassifier',
        backbone=dict(type='DefocusMamba', arch=TINY, patch_size=8,
                      out_type='raw'),
        head=dict(type='DefocusClsHead', num_classes=10, in_channels=32,
                  hidden_dims=hidden_dims)))


def official_state_dict(hidden_dims=None, detection=False):
    """Random tensors under the official names (classification: ``model``
    of the Swin-style trainer; detection: ``backbone.`` + projection)."""
    g = torch.Generator().manual_seed(0)
    ref = build_classifier(hidden_dims).state_dict()
    out = {}
    for key, value in ref.items():
        name = key.replace('backbone.', '', 1).replace('head.head', 'head', 1)
        if detection:
            if not key.startswith('backbone.'):
                continue
            name = 'backbone.' + name.replace('patch_embed.proj.',
                                              'patch_embed.projection.')
        out[name] = torch.randn(value.shape, generator=g)
    if detection:
        out['neck.lateral_convs.0.conv.weight'] = torch.zeros(4, 4, 1, 1)
        out['bbox_head.cls_branches.0.weight'] = torch.zeros(3, 4)
    return out


@pytest.mark.parametrize('hidden_dims', [None, 96])
def test_official_classifier_loads_strictly_and_round_trips(hidden_dims):
    official = official_state_dict(hidden_dims)
    assert {'patch_embed.proj.weight', 'cls_token', 'norm.bias',
            'blocks.1.mixer.freq', 'blocks.0.mixer.A_log', 'head2.weight'
            if hidden_dims is None else 'head2.2.weight'} <= set(official)
    converted, dropped = convert_official(official)
    assert not dropped
    model = build_classifier(hidden_dims)
    result = model.load_state_dict(converted, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    for key, value in model.state_dict().items():
        assert torch.equal(value, converted[key])
    back = convert_to_official(model.state_dict())
    assert back.keys() == official.keys()
    assert all(torch.equal(back[k], official[k]) for k in official)


def test_detection_layout_backbone_only():
    official = official_state_dict(detection=True)
    with pytest.raises(ValueError, match='backbone_only'):
        convert_official(official)
    converted, dropped = convert_official(official, backbone_only=True)
    assert sorted(dropped) == ['bbox_head.cls_branches.0.weight',
                               'neck.lateral_convs.0.conv.weight']
    backbone = build_classifier().backbone
    result = backbone.load_state_dict(
        {k[len('backbone.'):]: v for k, v in converted.items()}, strict=True)
    assert not result.missing_keys and not result.unexpected_keys


def test_unknown_keys_are_refused():
    with pytest.raises(ValueError, match='pos_embedding'):
        convert_official({'pos_embedding': torch.zeros(1)})


def test_converter_script_weights_only(tmp_path, exploit_checkpoint):
    spec = importlib.util.spec_from_file_location(
        'defocus_to_visionplug',
        ROOT / 'tools/model_converters/defocus_to_visionplug.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    official = official_state_dict()
    src, dst = tmp_path / 'official.pth', tmp_path / 'out' / 'vp.pth'
    torch.save({'model': official, 'epoch': 299}, src)
    tool.main([str(src), str(dst)])
    saved = torch.load(dst, weights_only=True)
    model = build_classifier()
    model.load_state_dict(saved['state_dict'], strict=True)
    assert torch.equal(model.backbone.cls_token, official['cls_token'])
    evil, marker = exploit_checkpoint
    with pytest.raises(SystemExit, match=r'error: checkpoint .*evil\.pth '
                       r'refused: .*nothing in it was executed'):
        tool.main([str(evil), str(tmp_path / 'never.pth')])
    assert not marker.exists()
    assert not (tmp_path / 'never.pth').exists()
