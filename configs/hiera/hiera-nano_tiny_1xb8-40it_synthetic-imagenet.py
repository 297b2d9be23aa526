# Tiny CPU check: a "nano" Hiera (C=16, one block per stage) classifier on
# synthetic ImageNet at 64 px (Hiera needs multiples of 32). Real-data
# counterpart: hiera-tiny_8xb128_in1k.py.
_base_ = [
    '../_base_/datasets/synthetic_imagenet.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['projects.hiera'], allow_failed_imports=False)

nano = dict(embed_dim=16, num_heads=1, stages=(1, 1, 1, 1))
max_iters = 40
crop = 64
model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(num_classes=1000),
    backbone=dict(type='HieraDense', arch=nano, img_size=crop,
                  out_indices=(), out_type='avg_featmap'),
    neck=None,
    head=dict(type='LinearClsHead', num_classes=1000, in_channels=128,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=crop),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=crop, edge='short'),
    dict(type='CenterCrop', crop_size=crop),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=8, num_workers=2,
                        dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=8, num_workers=2,
                      dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3,
                                    weight_decay=0.05))
param_scheduler = [dict(type='CosineAnnealingLR', by_epoch=False, begin=0,
                        end=max_iters, eta_min=1e-5)]
train_cfg = dict(by_epoch=False, max_iters=max_iters, val_interval=max_iters)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', by_epoch=False,
                    interval=max_iters))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
