# Tiny linear probe (CPU) of a backbone pre-trained by one of the tiny fair
# configs (configs/ssl_benchmark/*_resnet18-tiny_fair_*): the frozen
# ResNet-18 at 1/4 width, global pooling and a linear head, 100 iterations
# of SGD on synthetic ImageNet (40 px, as the pre-training).
#   python tools/train.py \
#       configs/ssl_eval/resnet18-tiny_fair-pre_1xb32-linear-100it_synthetic-imagenet.py \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/byol_tiny/iter_200.pth
_base_ = [
    '../_base_/datasets/synthetic_imagenet.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['projects.ssl_eval'],
                      allow_failed_imports=False)

crop = 40
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=crop, crop_ratio_range=(0.2, 1.),
         backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=crop, edge='short'),
    dict(type='CenterCrop', crop_size=crop),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=32, num_workers=2,
                        dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=64, num_workers=2,
                      dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNet', depth=18, stem_channels=16, base_channels=16,
        norm_cfg=dict(type='BN'), frozen_stages=4, norm_eval=True,
        init_cfg=dict(type='Pretrained', checkpoint='', prefix='backbone.')),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=1000, in_channels=128,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
              topk=(1, 5)))

max_iters = 100
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.5, momentum=0.9, weight_decay=0.))
param_scheduler = [dict(type='CosineAnnealingLR', by_epoch=False, begin=0,
                        end=max_iters)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=max_iters)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(type='CheckpointHook', by_epoch=False,
                    interval=max_iters, max_keep_ckpts=1))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
