# RevCol-T on ImageNet-1k, official recipe (configs/revcol_tiny_1k.yaml):
# 300 epochs, 8 GPUs x 128, AdamW lr 1e-3 (batch 1024), weight decay 0.05,
# 20 warm-up epochs, cosine to 1e-6, RandAugment m9, random erasing 0.25,
# Mixup 0.8 / CutMix 1.0, label smoothing 0.1, EMA, no gradient clipping,
# reversible backward, intermediate supervision with the compound loss
# (fcoe 3.0, ccoe 0.7). Official top-1: 82.2.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['projects.revcol'], allow_failed_imports=False)

channels = [64, 128, 256, 512]
model = dict(
    type='RevColClassifier',
    backbone=dict(
        type='RevCol',
        arch='t',
        drop_path_rate=0.1,
        save_memory=True,
        inter_supv=True,
        out_indices=(3, )),
    neck=None,
    head=dict(
        type='RevColClsHead',
        num_classes=1000,
        in_channels=channels[-1],
        channels=channels,
        inter_supv=True,
        num_supervised=4,
        fcoe=3.0,
        ccoe=0.7,
        loss=dict(
            type='LabelSmoothLoss', label_smooth_val=0.1, mode='original')),
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.8),
        dict(type='CutMix', alpha=1.0),
    ]),
)

train_dataloader = dict(batch_size=128)
optim_wrapper = dict(
    optimizer=dict(lr=1e-3),
    clip_grad=None)  # alpha is 4-D: weight-decayed, as in the official code
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=True, end=20,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True, begin=20)
]
custom_hooks = [dict(type='EMAHook', momentum=1e-4, priority='ABOVE_NORMAL')]
auto_scale_lr = dict(base_batch_size=1024)
