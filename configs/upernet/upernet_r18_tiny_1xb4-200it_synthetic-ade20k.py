# UPerNet R-18 trained from scratch on synthetic ADE20K (128 px crops) on CPU:
# the toolbox's end-to-end segmentation check (make demo). "tiny": the heads
# are 64 channels wide. Real-data counterpart:
# mmseg's upernet_r50_4xb4-80k_ade20k-512x512.py (40.70 mIoU).
_base_ = [
    'mmseg::_base_/models/upernet_r50.py',
    '../_base_/datasets/synthetic_ade20k.py',
    'mmseg::_base_/default_runtime.py',
]
custom_imports = dict(imports=['projects.stack_compat'],
                      allow_failed_imports=False)

max_iters = 200
crop_size = (128, 128)
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    data_preprocessor=dict(size=crop_size),
    pretrained=None,
    backbone=dict(depth=18, norm_cfg=norm_cfg),
    decode_head=dict(in_channels=[64, 128, 256, 512], channels=64,
                     num_classes=150, norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=256, channels=64, num_classes=150,
                        norm_cfg=norm_cfg))

train_dataloader = dict(batch_size=4, num_workers=2, persistent_workers=True)
val_dataloader = dict(batch_size=8, num_workers=2, persistent_workers=True)
test_dataloader = val_dataloader

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.01))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=20),
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
                    max_keep_ckpts=2),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
randomness = dict(seed=0)
auto_scale_lr = dict(enable=False, base_batch_size=4)
