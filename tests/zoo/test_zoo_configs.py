"""show (provenance), diff and derive on known configs."""
import textwrap
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from projects.zoo import backbone_channels, derive_config, diff_configs
from projects.zoo.building import build_model
from projects.zoo.channels import probe_channels
from projects.zoo.provenance import display_path, flatten, provenance

ROOT = Path(__file__).resolve().parents[2]
RETINANET = ROOT / ('configs/retinanet/'
                    'retinanet_r18_fpn_tiny_1xb4-300it_synthetic-coco.py')
UPERNET = ROOT / 'configs/upernet/upernet_r18_tiny_1xb4-200it_synthetic-ade20k.py'
MMDET_MODEL = 'mmdet::_base_/models/retinanet_r50_fpn.py'


def write(path, text):
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture(scope='module')
def chain(tmp_path_factory):
    """child -> parent -> (mmdet retinanet model base, local runtime)."""
    d = tmp_path_factory.mktemp('chain')
    write(d / 'runtime.py', "default_scope = 'mmdet'\nseed = 1\n")
    write(d / 'parent.py', f"""\
        _base_ = ['{MMDET_MODEL}', './runtime.py']
        model = dict(backbone=dict(depth=18), neck=dict(out_channels=64))
        seed = 2
        """)
    write(d / 'child.py', """\
        _base_ = './parent.py'
        model = dict(neck=dict(out_channels=64, num_outs=4),
                     bbox_head=dict(in_channels=64))
        """)
    return d


def test_show_provenance_of_known_keys(chain):
    cfg, tree, origins = provenance(chain / 'child.py',
                                    {'model.backbone.depth': 34})
    where = {k: display_path(v[1]) if v[1] != '--cfg-options' else v[1]
             for k, v in origins.items()}
    child, parent = str(chain / 'child.py'), str(chain / 'parent.py')
    assert where['model.neck.num_outs'] == child
    assert where['model.bbox_head.in_channels'] == child
    # re-set to the same value in child: the parent gave it first
    assert where['model.neck.out_channels'] == parent
    assert where['seed'] == parent  # overrides runtime.py's 1
    assert where['default_scope'] == str(chain / 'runtime.py')
    assert where['model.neck.start_level'] == MMDET_MODEL
    assert where['model._scope_'] == MMDET_MODEL  # stamped by mmengine
    assert where['model.backbone.depth'] == '--cfg-options'
    # values are exactly the merged config's
    assert {k: v[0] for k, v in origins.items()} == flatten(cfg.to_dict())
    assert [display_path(n.file) for _, n in tree.walk()] == [
        child, parent, MMDET_MODEL, str(chain / 'runtime.py')]


def test_diff_of_known_configs(tmp_path):
    a = write(tmp_path / 'a.py', f"""\
        _base_ = '{RETINANET}'
        """)
    b = write(tmp_path / 'b.py', f"""\
        _base_ = '{RETINANET}'
        model = dict(backbone=dict(depth=34, init_cfg=dict(
                     _delete_=True, type='Pretrained', checkpoint='x.pth')),
                     bbox_head=dict(_delete_=True,
                     type='RetinaHead', num_classes=3, in_channels=128))
        train_pipeline = [dict(type='LoadImageFromFile')]
        train_dataloader = dict(dataset=dict(pipeline=[
            dict(type='LoadImageFromFile', backend_args=None),
            dict(type='LoadAnnotations', with_bbox=True),
            dict(type='Resize', scale=(256, 256), keep_ratio=True),
            dict(type='RandomFlip', prob=0.5), dict(type='PackDetInputs')]))
        """)
    changes = {(op, key) for op, key, *_ in diff_configs(a, b)}
    base = Config.fromfile(str(RETINANET)).model.bbox_head
    expected = {('~', 'model.backbone.depth'),
                ('~', 'model.backbone.init_cfg'),  # None -> dict
                ('~', 'model.bbox_head.num_classes'),
                ('~', 'train_pipeline'),  # different lengths: one change
                ('~', 'train_dataloader.dataset.pipeline[2].scale')}
    expected |= {('-', f'model.bbox_head.{k}') for k in base
                 if k not in ('type', 'num_classes', 'in_channels')}
    assert changes == expected
    # antisymmetric; identical configs have no diff
    back = {(op, key) for op, key, *_ in diff_configs(b, a)}
    assert back == {({'-': '+', '+': '-'}.get(op, op), k)
                    for op, k in expected}
    assert diff_configs(a, RETINANET) == []


@pytest.mark.parametrize('base,backbone,args,channels', [
    (RETINANET, 'RegNet', dict(arch='regnetx_400mf'), [32, 64, 160, 384]),
    (UPERNET, 'ResNetV1c', dict(depth=50), [256, 512, 1024, 2048]),
])
def test_derive_writes_config_that_builds_and_loads(tmp_path, base, backbone,
                                                    args, channels):
    ckpt = tmp_path / 'pretrained.pth'
    out = tmp_path / 'derived.py'
    derive_config(base, backbone, str(ckpt), str(out), backbone_args=args)
    cfg = Config.fromfile(str(out))
    scope = cfg.default_scope
    assert cfg.model.backbone.type == backbone
    assert cfg.model.backbone.init_cfg == dict(
        type='Pretrained', checkpoint=str(ckpt), prefix='backbone.')
    if 'neck' in cfg.model:
        assert cfg.model.neck.in_channels == channels
    else:
        assert cfg.model.decode_head.in_channels == channels
        assert cfg.model.auxiliary_head.in_channels == channels[2]
    assert 'depth' not in cfg.model.backbone or args.get('depth')
    # "pre-trained" weights: a full-model checkpoint (keys backbone.*)
    torch.manual_seed(1)
    source = build_model(cfg.model, scope, 'cpu')
    for p in source.backbone.parameters():
        p.data.normal_(0, 0.05)
    torch.save(dict(state_dict={f'backbone.{k}': v for k, v in
                                source.backbone.state_dict().items()}), ckpt)
    model = build_model(cfg.model, scope, 'cpu')
    model.init_weights()
    for key, value in source.backbone.state_dict().items():
        assert torch.equal(model.backbone.state_dict()[key], value), key
    model.eval()
    with torch.no_grad():
        feats = model.extract_feat(torch.zeros(1, 3, 64, 64))
    if 'neck' in cfg.model:  # FPN consumed the new channels
        assert feats[0].shape[1] == cfg.model.neck.out_channels
    else:
        assert [f.shape[1] for f in feats] == channels


@pytest.mark.parametrize('cfg,scope', [
    (dict(type='ResNet', depth=18), 'mmdet'),
    (dict(type='ResNet', depth=50, out_indices=(1, 3)), 'mmdet'),
    (dict(type='ResNet', depth=50), 'mmpretrain'),  # default out_indices (3,)
    (dict(type='ResNetV1c', depth=18, base_channels=16), 'mmseg'),
])
def test_channel_table_matches_the_built_backbone(cfg, scope):
    assert backbone_channels(cfg, scope) == probe_channels(cfg, scope, 64)
