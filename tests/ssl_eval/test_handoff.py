"""Backbone hand-off: an SSL checkpoint's backbone, extracted with the
``backbone.`` prefix, initialises an mmdet and an mmseg model through
``init_cfg=dict(type='Pretrained', prefix='backbone.')`` with zero missing
keys and identical weights; the key report names what does not fit."""
import importlib.util
from pathlib import Path

import pytest
import torch
from mmengine.registry import init_default_scope

from projects.run_config import load_config
from projects.ssl_eval import (backbone_key_report, build_config_backbone,
                               extract_backbone, strip_prefix)

ROOT = Path(__file__).resolve().parents[2]
UNIGRAD = ('configs/ssl_benchmark/'
           'unigrad_resnet18-tiny_fair_1xb32-200it_synthetic-imagenet.py')
TARGETS = {
    'mmdet': ('configs/retinanet/'
              'retinanet_r18_fpn_tiny_1xb4-300it_synthetic-coco.py',
              {'model.backbone.stem_channels': 16,
               'model.backbone.base_channels': 16,
               'model.neck.in_channels': [16, 32, 64, 128]}),
    # mmseg's UPerNet uses ResNetV1c (deep stem); mmpretrain's ResNet
    # matches mmseg's plain ResNet
    'mmseg': ('configs/upernet/upernet_r18_tiny_1xb4-200it_synthetic-ade20k.py',
              {'model.backbone.type': 'ResNet',
               'model.backbone.stem_channels': 16,
               'model.backbone.base_channels': 16,
               'model.decode_head.in_channels': [16, 32, 64, 128],
               'model.auxiliary_head.in_channels': 64}),
}


@pytest.fixture(scope='module')
def ssl_checkpoint(tmp_path_factory):
    """A tiny UniGrad (fair-benchmark ResNet) checkpoint with its online
    and momentum backbones moved apart, and the extracted backbone."""
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    cfg = load_config(str(ROOT / UNIGRAD))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    with torch.no_grad():
        for p in model.backbone.parameters():
            p.add_(torch.randn_like(p))
    folder = tmp_path_factory.mktemp('handoff')
    src = folder / 'unigrad.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict(epoch=1)), src)
    out = folder / 'backbone.pth'
    spec = importlib.util.spec_from_file_location(
        'extract_backbone', ROOT / 'tools/model_converters/extract_backbone.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert tool.main([str(src), str(out), '--strict']) == 0
    return model, out


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg'])
def test_pretrained_prefix_loads_backbone(ssl_checkpoint, scope, tmp_path):
    from mmengine.registry import MODELS, DefaultScope
    model, out = ssl_checkpoint
    saved = torch.load(out, weights_only=True)['state_dict']
    assert all(k.startswith('backbone.') for k in saved)
    assert not any('target_net' in k or 'neck' in k for k in saved)
    config, options = TARGETS[scope]
    cfg = load_config(str(ROOT / config), options)
    cfg.model.backbone.init_cfg = dict(type='Pretrained',
                                       checkpoint=str(out),
                                       prefix='backbone.')
    with DefaultScope.overwrite_default_scope(scope):
        target = MODELS.build(cfg.model)
    target.init_weights()
    report = backbone_key_report(strip_prefix(saved, 'backbone.'),
                                 target.backbone)
    assert report['missing'] == [] and report['shape_mismatch'] == []
    assert report['unexpected'] == [] and report['matched'] > 0
    expected = model.backbone.state_dict()
    got = target.backbone.state_dict()
    for key, value in expected.items():
        assert torch.equal(got[key], value), key
    # and the report finds a real mismatch: mmseg's own ResNetV1c stem
    if scope == 'mmseg':
        v1c, _ = build_config_backbone(
            str(ROOT / config), {k: v for k, v in options.items()
                                 if k != 'model.backbone.type'})
        bad = backbone_key_report(strip_prefix(saved, 'backbone.'), v1c)
        assert any(k.startswith('stem.') for k in bad['missing'])
        assert 'conv1.weight' in bad['unexpected']


def test_extract_prefixes():
    state = {'backbone.a': torch.ones(1), 'neck.b': torch.ones(1),
             'target_net.module.0.a': torch.zeros(1)}
    assert list(extract_backbone(state)) == ['backbone.a']
    momentum = extract_backbone(state, 'target_net.module.0.', 'encoder.')
    assert list(momentum) == ['encoder.a'] and momentum['encoder.a'] == 0
    moco = {'module.encoder_q.conv1.weight': torch.ones(1),
            'module.encoder_q.fc.0.weight': torch.ones(1)}
    assert set(extract_backbone(moco)) == {'backbone.conv1.weight',
                                           'backbone.fc.0.weight'}
    with pytest.raises(KeyError, match='no key starts with'):
        extract_backbone(state, 'encoder_q.')
