"""Detection-transfer protocols of the fair SSL benchmark's ViT group
(configs/benchmark/transfer_{vit,beit}-nano-p8_fair-pre_retinanet-300it_
synthetic-coco.py): they load, and a randomly initialised fair MAE / BEiT v2
checkpoint loads into the downstream RetinaNet built from the generated run
config with every backbone key matched and the position tables resized
(5 x 5 pre-training tokens -> 16 x 16; BEiT's table through
projects.stack_compat's interp2d). No training, no data, no work_dirs.
"""
from pathlib import Path

import pytest
import torch

from projects.transfer_benchmark import (Pretrained, TransferBenchmark,
                                         load_protocol)

ROOT = Path(__file__).resolve().parents[2]
VIT = ('configs/benchmark/'
       'transfer_vit-nano-p8_fair-pre_retinanet-300it_synthetic-coco.py')
BEIT = ('configs/benchmark/'
        'transfer_beit-nano-p8_fair-pre_retinanet-300it_synthetic-coco.py')
MAE = ('configs/ssl_benchmark/'
       'mae_vit-nano-p8-tiny_fair_1xb32-1000it_synthetic-imagenet.py')
BEITV2 = ('configs/ssl_benchmark/'
          'beitv2_vit-nano-p8-tiny_fair_1xb32-1000it_synthetic-imagenet.py')


def random_init_checkpoint(config, path):
    """The fair pre-training config's model as the SSL benchmark builds it
    for its random-init baseline (seed 0), saved as the baselines are."""
    from mmengine.registry import init_default_scope

    from projects.ssl_eval.benchmark import load_cfg, random_init_model
    init_default_scope('mmpretrain')
    cfg = load_cfg(config, 'data/ssl_patterns', path.parent / 'pre', 0,
                   root=ROOT)
    torch.save({'state_dict': random_init_model(cfg).state_dict()}, path)
    return path


def downstream(protocol, checkpoint, tmp_path):
    """The RetinaNet of the generated run config (seed 0)."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import projects.simple_fpn  # noqa: F401  (the config's custom import)
    from mmdet.registry import MODELS
    p = load_protocol(ROOT / protocol)
    bench = TransferBenchmark(p, [Pretrained('random_init', str(checkpoint))],
                              tmp_path / 'work', dry_run=True,
                              log=lambda *a: None, seeds=[0])
    cfg_file = tmp_path / 'run_config.py'
    cfg_file.write_text(bench.config_text(bench.pretrained[0], p.tasks[0],
                                          0))
    cfg = Config.fromfile(str(cfg_file))
    assert cfg.model.backbone.init_cfg == dict(
        type='Pretrained', checkpoint=str(checkpoint), prefix='backbone.')
    init_default_scope('mmdet')
    return MODELS.build(cfg.model)


def backbone_state(checkpoint):
    sd = torch.load(checkpoint, map_location='cpu')['state_dict']
    return {k[len('backbone.'):]: v for k, v in sd.items()
            if k.startswith('backbone.')}


@pytest.mark.parametrize('protocol', [VIT, BEIT])
def test_protocols_load(protocol):
    p = load_protocol(ROOT / protocol)
    assert [t.name for t in p.tasks] == ['coco_det']
    assert p.data == [dict(kind='coco', out='data/synthetic_coco_transfer/',
                           num_train=240, num_val=100)]
    s = p.task_settings(p.tasks[0])
    assert s['train_cfg.max_iters'] == 300
    assert s['train_dataloader.batch_size'] == 4
    assert s['model.backbone.frozen_stages'] == -1
    assert (s['model.backbone.img_size'], s['model.backbone.patch_size']) \
        == (128, 8)
    assert s['model.backbone.arch'] == dict(
        embed_dims=64, num_layers=4, num_heads=4, feedforward_channels=128)
    assert [(d['end'], d['type']) for d in s['param_scheduler']] == \
        [(30, 'LinearLR'), (300, 'CosineAnnealingLR')]
    assert s['model.bbox_head.anchor_generator.strides'] == [2, 4, 8, 16, 32]
    if protocol == BEIT:  # the MAEViT protocol's settings, BEiTViT backbone
        vit = load_protocol(ROOT / VIT).task_settings(p.tasks[0])
        assert {k: v for k, v in s.items() if k in vit} == vit
        assert s['model.backbone.type'] == 'mmpretrain.BEiTViT'
        assert s['model.backbone.use_shared_rel_pos_bias'] is True


def test_mae_checkpoint_loads_into_vit_retinanet(tmp_path):
    ckpt = random_init_checkpoint(MAE, tmp_path / 'random_init_mae.pth')
    model = downstream(VIT, ckpt, tmp_path)
    bb, state = model.backbone, backbone_state(ckpt)
    assert type(bb).__name__ == 'VisionTransformer'
    assert state['pos_embed'].shape == (1, 1 + 5 * 5, 64)
    missing, unexpected = bb.load_state_dict(dict(state), strict=False)
    assert (missing, unexpected) == ([], [])
    # the run's path: init_cfg Pretrained with prefix backbone.
    model = downstream(VIT, ckpt, tmp_path)
    model.init_weights()
    loaded = model.backbone.state_dict()
    assert loaded['pos_embed'].shape == (1, 1 + 16 * 16, 64)  # resized
    assert torch.equal(loaded['pos_embed'][:, :1], state['pos_embed'][:, :1])
    for k, v in state.items():
        if k != 'pos_embed':
            assert torch.equal(loaded[k], v), k
    feats = model.neck(model.backbone(torch.zeros(1, 3, 128, 128)))
    assert [f.shape[-1] for f in feats] == [64, 32, 16, 8, 4]  # strides 2-32


def test_beit_checkpoint_loads_into_beit_retinanet(tmp_path):
    ckpt = random_init_checkpoint(BEITV2, tmp_path / 'random_init_beit.pth')
    model = downstream(BEIT, ckpt, tmp_path)
    bb, state = model.backbone, backbone_state(ckpt)
    assert type(bb).__name__ == 'BEiTViT'
    table = 'rel_pos_bias.relative_position_bias_table'
    assert state[table].shape == ((2 * 5 - 1)**2 + 3, 4)
    missing, unexpected = bb.load_state_dict(dict(state), strict=False)
    # the index buffer is regenerated for the 16 x 16 window; BEiT v2
    # pre-trains without the final LayerNorm (it starts at weight 1,
    # bias 0); mask_token is the pre-training's only
    assert sorted(missing) == ['ln1.bias', 'ln1.weight',
                               'rel_pos_bias.relative_position_index']
    assert unexpected == ['mask_token']
    model = downstream(BEIT, ckpt, tmp_path)
    model.init_weights()
    loaded = model.backbone.state_dict()
    assert loaded[table].shape == ((2 * 16 - 1)**2 + 3, 4)  # resized
    assert torch.equal(loaded[table][-3:], state[table][-3:])
    for k, v in state.items():
        if k not in (table, 'mask_token',
                     'rel_pos_bias.relative_position_index'):
            assert torch.equal(loaded[k], v), k
    feats = model.neck(model.backbone(torch.zeros(1, 3, 128, 128)))
    assert [f.shape[-1] for f in feats] == [64, 32, 16, 8, 4]
