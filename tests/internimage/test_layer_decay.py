"""InternImageLayerDecayOptimizerConstructor: every parameter's layer id, lr
and weight decay against the official rule written out from the module
structure (not from names); config keys checked; zoo configs wired."""
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from mmengine.optim import build_optim_wrapper
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS

from projects.internimage import InternImage
from projects.run_config import load_config

ROOT = Path(__file__).resolve().parents[2]
DEPTHS = (2, 1, 3, 2)
ARCH = dict(channels=8, depths=DEPTHS, groups=(1, 1, 1, 1))


class Head(nn.Module):
    """Stand-in for a neck/head: a conv, a deformable-attention-style
    ``sampling_offsets`` linear, a norm and BEVFormer's ``level_embeds``."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 1)
        self.sampling_offsets = nn.Linear(8, 4)
        self.reference_points = nn.Linear(8, 3)
        self.norm = nn.LayerNorm(8)
        self.level_embeds = nn.Parameter(torch.zeros(4, 8))


def _model(attr, **backbone):
    model = nn.Module()
    setattr(model, attr, InternImage(arch=ARCH, **backbone))
    model.neck = nn.Conv2d(64, 8, 1)
    model.head = Head()
    return model


def _expected(model, attr):
    """Official ids from the structure: stem 0; block j of level s
    1 + sum(depths[:s]) + j (its post-norm too); level s's downsample/norm
    1 + sum(depths[:min(s + 1, 3)]); level_embeds 0; the rest D + 1."""
    backbone = getattr(model, attr)
    ids = {p: sum(DEPTHS) + 1 for p in model.parameters()}
    ids.update({p: 0 for p in backbone.patch_embed.parameters()})
    ids[model.head.level_embeds] = 0
    for s, level in enumerate(backbone.levels):
        for j, block in enumerate(level.blocks):
            ids.update({p: 1 + sum(DEPTHS[:s]) + j for p in block.parameters()})
        for j, norm in enumerate(getattr(level, 'post_norms', [])):
            ids.update({p: 1 + sum(DEPTHS[:s]) + j for p in norm.parameters()})
        for part in ('downsample', 'norm'):
            if getattr(level, part, None) is not None:
                ids.update({p: 1 + sum(DEPTHS[:min(s + 1, 3)])
                            for p in getattr(level, part).parameters()})
    return ids


@pytest.mark.parametrize('attr,options', [
    ('backbone', dict()),  # pre-norm: levels have a final norm
    ('img_backbone', dict(post_norm=True, layer_scale=1e-5,
                          level2_post_norm_block_ids=[0, 2],
                          frozen_stages=0)),  # frozen stem excluded
])
def test_layer_ids_lr_and_weight_decay(attr, options):
    model = _model(attr, **options)
    ow = build_optim_wrapper(model, dict(
        type='OptimWrapper',
        optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
        constructor='InternImageLayerDecayOptimizerConstructor',
        paramwise_cfg=dict(layer_decay_rate=0.9, offset_lr_scale=0.5)))
    names = {p: n for n, p in model.named_parameters()}
    expected = _expected(model, attr)
    top = sum(DEPTHS) + 1
    seen = []
    for group in ow.optimizer.param_groups:
        for p in group['params']:
            seen.append(p)
            name, layer_id = names[p], expected[p]
            scale = 0.9**(top - layer_id)
            if p is model.head.sampling_offsets.weight or \
                    p in set(model.head.reference_points.parameters()) or \
                    p is model.head.sampling_offsets.bias:
                scale *= 0.5  # offset_lr_scale
            assert group['lr'] == pytest.approx(1e-3 * scale, rel=1e-12), name
            # 1-D, biases, norms (names with 'norm') and sampling_offsets
            no_wd = (p.ndim == 1 or name.endswith('bias') or 'norm' in name
                     or p is model.head.sampling_offsets.weight)
            assert group['weight_decay'] == (0.0 if no_wd else 0.05), name
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert len(seen) == len(set(seen)) == len(trainable)
    assert set(seen) == set(trainable)
    frozen = [p for p in model.parameters() if not p.requires_grad]
    assert bool(frozen) == ('frozen_stages' in options)
    # every id 0..D+1 is used; 2-D weights of blocks and heads are decayed
    assert {expected[p] for p in seen} == set(range(top + 1))
    assert any(g['weight_decay'] == 0.05 and g['lr'] == pytest.approx(1e-3)
               for g in ow.optimizer.param_groups)


def test_config_keys_are_checked():
    model = _model('backbone')

    def build(**paramwise):
        return build_optim_wrapper(model, dict(
            type='OptimWrapper', optimizer=dict(type='SGD', lr=0.1),
            constructor='InternImageLayerDecayOptimizerConstructor',
            paramwise_cfg=paramwise))

    ow = build(layer_decay_rate=0.5, num_layers=8, depths=[2, 1, 3, 2])
    # no weight_decay in the optimizer: the decayed groups keep SGD's default
    assert {g.get('weight_decay') for g in ow.optimizer.param_groups} == {0.0, 0}
    with pytest.raises(ValueError, match='num_layers 30 != sum'):
        build(num_layers=30)
    with pytest.raises(ValueError, match=r'depths \[4, 4, 18, 4\] !='):
        build(depths=[4, 4, 18, 4])
    with pytest.raises(KeyError, match="did you mean 'layer_decay_rate'"):
        build(layer_decay_rat=0.9)
    with pytest.raises(KeyError, match='custom_keys'):
        build(custom_keys={'backbone': dict(lr_mult=0.1)})
    with pytest.raises(ValueError, match=r'in \(0, 1\]'):
        build(layer_decay_rate=1.5)
    model.backbone = nn.Linear(2, 2)
    with pytest.raises(TypeError, match='needs an InternImage backbone'):
        build()


def test_registered_in_root_and_seen_from_task_registries():
    from mmdet.registry import OPTIM_WRAPPER_CONSTRUCTORS as DET
    from mmpretrain.registry import OPTIM_WRAPPER_CONSTRUCTORS as CLS
    from mmseg.registry import OPTIM_WRAPPER_CONSTRUCTORS as SEG
    name = 'InternImageLayerDecayOptimizerConstructor'
    cls = OPTIM_WRAPPER_CONSTRUCTORS.get(name)
    assert cls is not None
    assert DET.get(name) is SEG.get(name) is CLS.get(name) is cls


@pytest.mark.parametrize('config,attr,arch,rate,lr', [
    ('internimage/mask-rcnn_internimage-t_fpn_8xb2-1x_coco.py', 'backbone',
     't', 1.0, 1e-4),
    ('internimage/upernet_internimage-t_8xb2-160k_ade20k-512x512.py',
     'backbone', 't', 1.0, 6e-5),
    ('bevformer_v2/bevformer-v2_internimage-b_t1-hybrid_16xb1-48e_'
     'nuscenes.py', 'img_backbone', 'b', 0.96, 4e-4),
    ('bevformer_v2/bevformer-v2_internimage-xl_t8-hybrid_32xb1-24e_'
     'nuscenes.py', 'img_backbone', 'xl', 0.94, 5e-4),
])
def test_zoo_configs_use_the_official_decay(config, attr, arch, rate, lr):
    """The config's optim_wrapper on its real backbone arch (meta device):
    the stem trains at lr * rate ** (D + 1), the heads at lr."""
    cfg = load_config(str(ROOT / 'configs' / config))
    backbone = cfg.model[attr]
    assert backbone.type == 'InternImage' and backbone.arch == arch
    model = nn.Module()
    with torch.device('meta'):
        setattr(model, attr, InternImage(arch=arch))
        model.head = nn.Linear(4, 4)
    ow = build_optim_wrapper(model, cfg.optim_wrapper)
    depth = sum(getattr(model, attr).depths)
    lrs = sorted({g['lr'] for g in ow.optimizer.param_groups})
    assert lrs[0] == pytest.approx(lr * rate**(depth + 1))
    assert lrs[-1] == pytest.approx(lr)
    assert len(lrs) == (depth + 2 if rate < 1 else 1)
