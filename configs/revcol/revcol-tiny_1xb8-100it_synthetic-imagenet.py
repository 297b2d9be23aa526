# Tiny RevCol (channels 16/32/64/128, one block per level, 4 columns) with
# intermediate supervision (compound loss) and the reversible backward,
# trained from scratch on synthetic ImageNet (56 px) on CPU. Real-data
# counterpart: revcol-t_8xb128_in1k.py.
_base_ = [
    '../_base_/datasets/synthetic_imagenet.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['projects.revcol'], allow_failed_imports=False)

max_iters = 100
channels = [16, 32, 64, 128]
model = dict(
    type='RevColClassifier',
    backbone=dict(
        type='RevCol',
        arch=dict(channels=channels, layers=[1, 1, 1, 1], num_subnet=4),
        drop_path_rate=0.1,
        save_memory=True,
        inter_supv=True,
        out_indices=(3, )),
    head=dict(
        type='RevColClsHead',
        num_classes=1000,
        in_channels=channels[-1],
        channels=channels,
        inter_supv=True,
        num_supervised=4),
)

train_dataloader = dict(batch_size=8, num_workers=2, persistent_workers=True)
val_dataloader = dict(batch_size=16, num_workers=2, persistent_workers=True)
test_dataloader = val_dataloader

optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=10),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=0, end=max_iters,
         eta_min=1e-5)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=max_iters)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=max_iters,
                    max_keep_ckpts=1))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
auto_scale_lr = dict(enable=False, base_batch_size=8)
