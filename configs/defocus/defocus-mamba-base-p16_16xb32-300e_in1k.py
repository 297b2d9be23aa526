# De-focus Mamba-Base on ImageNet-1k, the official recipe
# (classification/configs/defocus_mamba_base.yaml + Swin-style trainer):
# 16 GPUs x 32, AdamW lr 5e-4 (= 5e-4 * 512 / 512), wd 0.05, 20 warm-up
# epochs, cosine to 5e-6, grad clip 10, bf16, repeated augmentation, RandAugment
# + Mixup 0.8 / CutMix 1.0 + label smoothing 0.1 + random erasing 0.25,
# drop path scheduled 0.1 -> 0.75 over the epochs, auxiliary token loss.
# Official top-1: 82.0 (README).
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['projects.defocus'],
                      allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='DefocusMamba',
        arch='base',
        patch_size=16,
        out_type='raw',
        drop_path_rate=0.75),
    neck=None,
    head=dict(
        type='DefocusClsHead',
        num_classes=1000,
        in_channels=768,
        aux_loss='tokens',
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1,
                  mode='original'),
        cal_acc=False),
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.8),
        dict(type='CutMix', alpha=1.0)
    ]))

train_dataloader = dict(batch_size=32,
                        sampler=dict(type='RepeatAugSampler', shuffle=True))
val_dataloader = dict(batch_size=32)
test_dataloader = val_dataloader

optim_wrapper = dict(
    type='AmpOptimWrapper',
    dtype='bfloat16',
    optimizer=dict(lr=5e-4),
    clip_grad=dict(max_norm=10.0),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        flat_decay_mult=0.0,
        custom_keys={'.cls_token': dict(decay_mult=0.0)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, end=20,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=5e-6, by_epoch=True, begin=20)
]
custom_hooks = [
    dict(type='DefocusDropPathHook', min_rate=0.1, max_rate=0.75,
         by_epoch=True)
]
auto_scale_lr = dict(base_batch_size=512)
