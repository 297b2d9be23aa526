# InternImage-T on ImageNet-1k, official recipe (classification/configs/
# internimage_t_1k_224.yaml + config.py defaults): 300 epochs, batch 4096
# (8 GPUs x 512), AdamW lr 5e-4 x 4096 / 512 = 4e-3, weight decay 0.05 (none
# on 1-D parameters), 20 warm-up epochs from 5e-7 x 8, cosine to 5e-6 x 8,
# gradient clipping 5.0, RandAugment m9, random erasing 0.25, Mixup 0.8 /
# CutMix 1.0, label smoothing 0.1, EMA 0.9999, drop path 0.1.
# Official: 83.5 top-1, 30M params, 5G FLOPs.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['projects.internimage'],
                      allow_failed_imports=False)

arch = 't'
model = dict(
    type='ImageClassifier',
    backbone=dict(type='InternImage', arch=arch, out_indices=(3, )),
    neck=None,
    head=dict(
        type='InternImageClsHead',
        num_classes=1000,
        in_channels=512,
        cls_scale=1.5,
        loss=dict(
            type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        cal_acc=False),
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.8),
        dict(type='CutMix', alpha=1.0),
    ]),
)

train_dataloader = dict(batch_size=512)
optim_wrapper = dict(optimizer=dict(lr=4e-3), clip_grad=dict(max_norm=5.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, end=20,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=4e-5, by_epoch=True, begin=20)
]
custom_hooks = [dict(type='EMAHook', momentum=1e-4, priority='ABOVE_NORMAL')]
auto_scale_lr = dict(base_batch_size=4096)
