# Tiny CPU check: SIM with a "nano" ViT (2 layers, 32-dim, patch 8 -> 7 x 7
# grid at 56 px) on synthetic ImageNet: 29 of 49 view-1 patches masked
# (about the official 118 / 196), a 1-layer projector and 2-layer predictor
# of width 32. Real-data counterpart:
# sim_vit-base-p16_8xb512-amp-coslr-1600e_in1k.py. Another plain ViT works
# as backbone too, e.g. (see projects/sim/README.md)
#   --cfg-options model.backbone.type=MagnetoViT \
#       custom_imports.imports="['projects.sim','projects.magneto']"
_base_ = [
    '../_base_/datasets/synthetic_imagenet.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['projects.sim'], allow_failed_imports=False)

max_iters = 100
crop = 56
patch = 8
grid = crop // patch
selfsup_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)
# replaces the classification preprocessor of the dataset base
data_preprocessor = dict(_delete_=True, **selfsup_preprocessor)
# the official colour augmentations of view 1 and view 2 (BYOL's pair)
view_pipeline1 = [
    dict(type='RandomApply',
         transforms=[dict(type='ColorJitter', brightness=0.4, contrast=0.4,
                          saturation=0.2, hue=0.1)],
         prob=0.8),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
         channel_weights=(0.114, 0.587, 0.2989)),
    dict(type='GaussianBlur', magnitude_range=(0.1, 2.0),
         magnitude_std='inf', prob=1.),
]
view_pipeline2 = [
    dict(type='RandomApply',
         transforms=[dict(type='ColorJitter', brightness=0.4, contrast=0.4,
                          saturation=0.2, hue=0.1)],
         prob=0.8),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
         channel_weights=(0.114, 0.587, 0.2989)),
    dict(type='GaussianBlur', magnitude_range=(0.1, 2.0),
         magnitude_std='inf', prob=0.1),
    dict(type='Solarize', thr=128, prob=0.2),
]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='SIMTwoViews', crop_size=crop, crop_ratio_range=(0.08, 1.0),
         flip_prob=0.5, interpolation='bicubic', backend='pillow',
         view_pipelines=[view_pipeline1, view_pipeline2]),
    dict(type='SIMMaskGenerator', input_size=grid, num_masking_patches=29,
         min_num_patches=4),
    dict(type='PackInputs', algorithm_keys=['rel_pos']),
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

model = dict(
    type='SIM',
    data_preprocessor=selfsup_preprocessor,
    backbone=dict(
        type='MAEViT',
        arch=dict(embed_dims=32, num_layers=2, num_heads=2,
                  feedforward_channels=128),
        img_size=crop,
        patch_size=patch,
        final_norm=False),
    neck=dict(type='SIMProjector', in_channels=32, embed_dims=32,
              num_layers=1, num_heads=2),
    head=dict(type='SIMHead', embed_dims=32, num_layers=2, num_heads=2,
              loss=dict(type='SIMLoss', neg_weight=0.02)),
    base_momentum=0.005,
    train_patch_embed=False,
    init_cfg=[
        dict(type='Xavier', layer='Linear', distribution='uniform'),
        dict(type='Constant', layer='LayerNorm', val=1.0, bias=0.0),
    ])

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.95),
                   weight_decay=0.05),
    clip_grad=dict(max_norm=1.0),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0,
                       flat_decay_mult=0.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0,
         end=10),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=10, end=max_iters,
         eta_min=0.),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(type='CheckpointHook', by_epoch=False,
                    interval=max_iters))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
