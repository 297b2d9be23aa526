# InternImage-nano (16/32/64/128 channels, depths 1/1/2/1, groups 1/2/4/8;
# a CPU test arch, not an official variant) trained from scratch on
# synthetic ImageNet (56 px crops) on CPU: the end-to-end classification
# check of the backbone, the pure-PyTorch DCNv3 core and the official head.
# Real-data counterpart: internimage-t_8xb512-300e_in1k.py.
_base_ = [
    '../_base_/datasets/synthetic_imagenet.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['projects.internimage'],
                      allow_failed_imports=False)

max_iters = 200
model = dict(
    type='ImageClassifier',
    backbone=dict(type='InternImage', arch='nano', out_indices=(3, )),
    neck=None,
    head=dict(
        type='InternImageClsHead',
        num_classes=1000,  # synthetic labels index the 1000 ImageNet classes
        in_channels=128,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5)))

train_dataloader = dict(batch_size=16, num_workers=2, persistent_workers=True)
val_dataloader = dict(batch_size=32, num_workers=2, persistent_workers=True)
test_dataloader = val_dataloader

optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=2e-3, weight_decay=0.05),
    paramwise_cfg=dict(flat_decay_mult=0.0),
    clip_grad=dict(max_norm=5.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=20),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=0, end=max_iters,
         eta_min=1e-5)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=max_iters)
val_cfg = dict()
test_cfg = dict()

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=100,
                    max_keep_ckpts=2))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
auto_scale_lr = dict(enable=False, base_batch_size=16)
