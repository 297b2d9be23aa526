# RetinaNet R-18 FPN trained from scratch on synthetic COCO (128 px) on CPU:
# the toolbox's end-to-end detection check (make demo). "tiny": FPN and head
# are 128 channels wide with 2 stacked head convs. Real-data counterpart:
# mmdet::retinanet/retinanet_r18_fpn_1x_coco.py (31.7 box AP on COCO val).
_base_ = [
    'mmdet::_base_/models/retinanet_r50_fpn.py',
    '../_base_/datasets/synthetic_coco.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['projects.stack_compat'],
                      allow_failed_imports=False)

max_iters = 300
model = dict(
    backbone=dict(depth=18, norm_eval=False, init_cfg=None),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=128),
    bbox_head=dict(in_channels=128, feat_channels=128, stacked_convs=2),
    test_cfg=dict(score_thr=0.01, max_per_img=50))

train_dataloader = dict(batch_size=4, num_workers=2, persistent_workers=True)
val_dataloader = dict(batch_size=8, num_workers=2, persistent_workers=True)
test_dataloader = val_dataloader

optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
    clip_grad=dict(max_norm=10, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=30),
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
                    max_keep_ckpts=2))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
auto_scale_lr = dict(enable=False, base_batch_size=4)
