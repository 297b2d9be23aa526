# Tiny CPU check of G2SD generic distillation: a nano MAE student (ViT 32-d,
# 2 layers, patch 8 -> 7 x 7 grid at 56 px; decoder 16-d, 2 blocks) learns
# to predict, through a 2-layer MLP, the LayerNorm'ed hidden states after
# decoder block 2 of a randomly initialised, frozen nano MAE teacher
# (ViT 48-d, 2 layers; decoder 24-d, 3 blocks) on synthetic ImageNet; 75 %
# of the 49 patches masked (12 kept). Real-data counterpart:
# g2sd_vit-small-p16_mae-vit-base_8xb256-amp-coslr-300e_in1k.py.
_base_ = [
    '../_base_/datasets/synthetic_imagenet.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['projects.g2sd'], allow_failed_imports=False)

max_iters = 40
crop = 56
selfsup_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)
data_preprocessor = dict(_delete_=True, **selfsup_preprocessor)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=crop, crop_ratio_range=(0.2, 1.0),
         interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),
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

model = dict(
    type='G2SD',
    data_preprocessor=selfsup_preprocessor,
    backbone=dict(type='MAEViT',
                  arch=dict(embed_dims=32, num_layers=2, num_heads=2,
                            feedforward_channels=128),
                  img_size=crop, patch_size=8, mask_ratio=0.75),
    neck=dict(type='MAEPretrainDecoder', num_patches=49, patch_size=8,
              embed_dim=32, decoder_embed_dim=16, decoder_depth=2,
              decoder_num_heads=2),
    head=dict(type='G2SDHead', in_channels=16, out_channels=24, beta=2.0,
              supervise_all=True),
    # random frozen stand-in for a pre-trained MAE (init_cfg=None)
    teacher=dict(
        type='G2SDTeacher',
        backbone=dict(type='MAEViT',
                      arch=dict(embed_dims=48, num_layers=2, num_heads=2,
                                feedforward_channels=192),
                      img_size=crop, patch_size=8),
        neck=dict(type='MAEPretrainDecoder', num_patches=49, patch_size=8,
                  embed_dim=48, decoder_embed_dim=24, decoder_depth=3,
                  decoder_num_heads=2)),
    target_layer=2,
    save_teacher=False,
    init_cfg=[
        dict(type='Xavier', layer='Linear', distribution='uniform'),
        dict(type='Constant', layer='LayerNorm', val=1.0, bias=0.0)
    ])

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.95),
                   weight_decay=0.05),
    paramwise_cfg=dict(custom_keys={
        'ln': dict(decay_mult=0.0),
        'bias': dict(decay_mult=0.0),
        'pos_embed': dict(decay_mult=0.),
        'mask_token': dict(decay_mult=0.),
        'cls_token': dict(decay_mult=0.)
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
