# UPerNet with a two-layer plain ViT (64 channels, patch 16) and SimpleFPN
# trained from scratch on synthetic ADE20K (128 px crops) on CPU. Shared by
# the plain-ViT backbones' tiny segmentation configs: they swap
# model.backbone.type.
_base_ = [
    'mmseg::_base_/models/upernet_r50.py',
    '../datasets/synthetic_ade20k.py',
    'mmseg::_base_/default_runtime.py',
]
custom_imports = dict(imports=['projects.simple_fpn'],
                      allow_failed_imports=False)

max_iters = 100
crop_size = (128, 128)
embed_dims = 64
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    data_preprocessor=dict(size=crop_size, test_cfg=dict(size_divisor=16)),
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='mmpretrain.VisionTransformer',
        arch=dict(embed_dims=embed_dims, num_layers=2, num_heads=2,
                  feedforward_channels=128),
        img_size=128,
        patch_size=16,
        out_type='featmap'),
    neck=dict(
        type='SimpleFPN',
        backbone_channel=embed_dims,
        in_channels=[embed_dims // 4, embed_dims // 2, embed_dims, embed_dims],
        out_channels=64,
        num_outs=4,
        norm_cfg=dict(type='LN2d', requires_grad=True)),
    decode_head=dict(in_channels=[64, 64, 64, 64], channels=64,
                     num_classes=150, norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=64, channels=64, num_classes=150,
                        norm_cfg=norm_cfg))

train_dataloader = dict(batch_size=4, num_workers=2, persistent_workers=True)
val_dataloader = dict(batch_size=8, num_workers=2, persistent_workers=True)
test_dataloader = val_dataloader

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.01),
    paramwise_cfg=dict(flat_decay_mult=0.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=10),
    dict(type='PolyLR', eta_min=1e-5, power=0.9, begin=0, end=max_iters,
         by_epoch=False)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=20, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=100,
                    max_keep_ckpts=1),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
randomness = dict(seed=0)
auto_scale_lr = dict(enable=False, base_batch_size=4)
