# RetinaNet with a two-layer plain ViT (64 channels, patch 16) and SimpleFPN
# trained from scratch on synthetic COCO (128 px) on CPU. Shared by the
# plain-ViT backbones' tiny detection configs: they swap
# model.backbone.type.
_base_ = [
    'mmdet::_base_/models/retinanet_r50_fpn.py',
    '../datasets/synthetic_coco.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['projects.simple_fpn'],
                      allow_failed_imports=False)

max_iters = 100
embed_dims = 64
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmpretrain.VisionTransformer',
        arch=dict(embed_dims=embed_dims, num_layers=2, num_heads=2,
                  feedforward_channels=128),
        img_size=128,
        patch_size=16,
        out_type='featmap'),
    neck=dict(
        _delete_=True,
        type='SimpleFPN',
        backbone_channel=embed_dims,
        in_channels=[embed_dims // 4, embed_dims // 2, embed_dims, embed_dims],
        out_channels=64,
        num_outs=5,
        norm_cfg=dict(type='LN2d', requires_grad=True)),
    bbox_head=dict(
        in_channels=64, feat_channels=64, stacked_convs=2,
        anchor_generator=dict(strides=[4, 8, 16, 32, 64])),
    test_cfg=dict(score_thr=0.01, max_per_img=50))

train_dataloader = dict(batch_size=4, num_workers=2, persistent_workers=True)
val_dataloader = dict(batch_size=8, num_workers=2, persistent_workers=True)
test_dataloader = val_dataloader

optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
    paramwise_cfg=dict(flat_decay_mult=0.0),
    clip_grad=dict(max_norm=10, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=10),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=0, end=max_iters,
         eta_min=1e-5)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=100,
                    max_keep_ckpts=1))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
auto_scale_lr = dict(enable=False, base_batch_size=4)
