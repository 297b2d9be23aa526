# A 2-layer, 64-wide De-focus Mamba (patch 8 at the 56 px crops: 49 tokens
# + cls) trained on synthetic ImageNet on CPU: exercises the parallel scan,
# the bandpass, the auxiliary token loss and the drop-path schedule end to
# end. Real-size counterpart: defocus-mamba-base-p16_16xb32-300e_in1k.py.
_base_ = [
    '../_base_/datasets/synthetic_imagenet.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['projects.defocus'],
                      allow_failed_imports=False)

max_iters = 100
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='DefocusMamba',
        arch=dict(embed_dims=64, intermediate_size=128, num_layers=2,
                  time_step_rank=8, group_norm_size=32),
        patch_size=8,
        out_type='raw',
        drop_path_rate=0.2),
    neck=None,
    head=dict(
        type='DefocusClsHead',
        num_classes=1000,
        in_channels=64,
        aux_loss='tokens',
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))

train_dataloader = dict(batch_size=8, num_workers=2, persistent_workers=True)
val_dataloader = dict(batch_size=8, num_workers=2, persistent_workers=True)
test_dataloader = val_dataloader

optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
    clip_grad=dict(max_norm=10.0),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0,
                       flat_decay_mult=0.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=10),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=0, end=max_iters,
         eta_min=1e-5)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
custom_hooks = [
    dict(type='DefocusDropPathHook', min_rate=0.05, max_rate=0.2,
         by_epoch=False)
]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=100,
                    max_keep_ckpts=1))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
