# Siamese Image Modeling (SIM, Tao et al., CVPR 2023) ViT-B/16 pre-training
# on ImageNet-1k, 1600 epochs, batch 4096 (8 GPUs x 512 here; the official
# script splits 4096 over 8 GPUs per node and any number of nodes).
# Official: 84.1 top-1 after ImageNet fine-tuning, 78.0 linear probe
# (not reproduced here: no GPU / ImageNet).
#
# From the official code (OpenGVLab/Siamese-Image-Modeling,
# configs/pretrain/dist_sim_base_1600ep.sh and main_pretrain.py): per view
# flip then RandomResizedCrop(224, area 0.08-1, bicubic), BYOL's colour pair
# (view 1: blur p=1; view 2: blur p=0.1, solarize p=0.2); block masking of
# exactly 118 of 196 view-1 patches (min block 16); ViT-B/16 with frozen
# random patch embedding, fixed 2-D sin-cos position embedding and no final
# norm; decoder width 768, 16 heads, 2 projector + 4 predictor layers with
# BatchNorm over tokens (SyncBN); loss neg_weight 0.02; momentum 0.995 -> 1
# (cosine, per iteration); AdamW lr 6.25e-5 x 4096 / 256 = 1e-3, betas
# (0.9, 0.95), wd 0.05 (none on norms / biases), 40 warm-up epochs + cosine
# to 0, grad clip 1.0, AMP with the loss in fp32.
_base_ = 'mmpretrain::_base_/default_runtime.py'
custom_imports = dict(imports=['projects.sim'], allow_failed_imports=False)

# data
dataset_type = 'ImageNet'
data_root = 'data/imagenet/'
data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)
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
    dict(type='SIMTwoViews', crop_size=224, crop_ratio_range=(0.08, 1.0),
         flip_prob=0.5, interpolation='bicubic', backend='pillow',
         view_pipelines=[view_pipeline1, view_pipeline2]),
    dict(type='SIMMaskGenerator', input_size=14, num_masking_patches=118,
         min_num_patches=16),
    dict(type='PackInputs', algorithm_keys=['rel_pos']),
]
train_dataloader = dict(
    batch_size=512,
    num_workers=10,
    persistent_workers=True,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, split='train',
                 pipeline=train_pipeline))

# model
model = dict(
    type='SIM',
    data_preprocessor=data_preprocessor,
    backbone=dict(type='MAEViT', arch='b', img_size=224, patch_size=16,
                  final_norm=False),
    neck=dict(type='SIMProjector', in_channels=768, embed_dims=768,
              num_layers=2, num_heads=16,
              norm_cfg=dict(type='TokenBatchNorm')),
    head=dict(type='SIMHead', embed_dims=768, num_layers=4, num_heads=16,
              norm_cfg=dict(type='TokenBatchNorm'),
              loss=dict(type='SIMLoss', neg_weight=0.02)),
    base_momentum=0.005,
    train_patch_embed=False,
    init_cfg=[
        dict(type='Xavier', layer='Linear', distribution='uniform'),
        dict(type='Constant', layer='LayerNorm', val=1.0, bias=0.0),
    ])
# BatchNorm of projector / predictor (and of the momentum projector) as
# SyncBN in distributed training, as the official code
sync_bn = 'torch'

# optimiser: 1e-3 = 6.25e-5 * 4096 / 256
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.95),
                   weight_decay=0.05),
    clip_grad=dict(max_norm=1.0),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0,
                       flat_decay_mult=0.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0,
         end=40, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=1560, eta_min=0., by_epoch=True,
         begin=40, end=1600, convert_to_iter_based=True),
]

# runtime
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1600)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(type='CheckpointHook', interval=5, max_keep_ckpts=3))
randomness = dict(seed=0, diff_rank_seed=True)
auto_scale_lr = dict(base_batch_size=4096)
