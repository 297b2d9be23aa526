# Tiny CPU check: MaskDistill with a "nano" BEiT student (2 layers, 32-dim,
# patch 8 -> 7 x 7 grid at 56 px) and a randomly initialised, frozen nano
# ViT teacher (2 pre-norm layers, 24-dim) on synthetic ImageNet; block-wise
# masking of 20 of 49 patches (40 %). Real-data counterpart:
# maskdistill_beit-base-p16_clip-b16_8xb256-amp-coslr-300e_in1k.py.
_base_ = [
    '../_base_/datasets/synthetic_imagenet.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['projects.maskdistill'],
                      allow_failed_imports=False)

max_iters = 40
crop = 56
selfsup_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)
# replaces the classification preprocessor of the dataset base
data_preprocessor = dict(_delete_=True, **selfsup_preprocessor)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=crop, crop_ratio_range=(0.2, 1.0),
         interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='BEiTMaskGenerator', input_size=(7, 7),
         num_masking_patches=20, min_num_patches=4),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=8, num_workers=2,
                        collate_fn=dict(type='default_collate'),
                        dataset=dict(pipeline=train_pipeline))
val_dataloader = None
val_evaluator = None
val_cfg = None
test_dataloader = None
test_evaluator = None
test_cfg = None

nano_student = dict(embed_dims=32, num_layers=2, num_heads=2,
                    feedforward_channels=64)
nano_teacher = dict(embed_dims=24, num_layers=2, num_heads=2,
                    feedforward_channels=48)
model = dict(
    type='MaskDistill',
    data_preprocessor=selfsup_preprocessor,
    backbone=dict(type='BEiTPretrainViT', arch=nano_student, img_size=crop,
                  patch_size=8, final_norm=True, out_type='raw',
                  use_shared_rel_pos_bias=True, layer_scale_init_value=0.1),
    head=dict(type='MaskDistillHead', in_channels=32, out_channels=24,
              loss=dict(type='MaskedSmoothL1Loss', beta=2.0)),
    # random frozen stand-in for a pre-trained teacher (init_cfg=None)
    teacher=dict(type='VisionTransformer', arch=nano_teacher, img_size=crop,
                 patch_size=8, pre_norm=True, final_norm=True,
                 out_type='raw'),
    teacher_mean=[122.770938, 116.7460125, 104.09373615],
    teacher_std=[68.5005327, 66.6321579, 70.32316305],
    save_teacher=False)

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.98),
                   weight_decay=0.05),
    clip_grad=dict(max_norm=3.0),
    paramwise_cfg=dict(custom_keys={
        '.ln': dict(decay_mult=0.0),
        '.bias': dict(decay_mult=0.0),
        '.gamma': dict(decay_mult=0.0),
        '.mask_token': dict(decay_mult=0.0),
    }))
param_scheduler = [dict(type='CosineAnnealingLR', by_epoch=False, begin=0,
                        end=max_iters, eta_min=1e-5)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', by_epoch=False,
                    interval=max_iters))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
