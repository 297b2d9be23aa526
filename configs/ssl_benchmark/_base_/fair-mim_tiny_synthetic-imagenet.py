# Fair benchmark, tiny CPU scale: the ViT + AdamW group (MAE, BEiT v2, SIM,
# MaskDistill, G2SD, FLIP: every one of them masks or drops tokens, so
# they need a ViT). The warm-up + cosine schedule shape, batch, data, crop
# size and scale range, and the kNN evaluation are inherited unchanged from
# the ResNet + SGD base; this group shares instead:
# - 1000 iterations (about 53 epochs of the 600 images) instead of 200:
#   masked image modelling needs longer schedules than the Siamese methods
#   (MAE: 800-1600 epochs against 200 for MoCo v2). At 200 iterations no
#   method of this group beat its random init by more than the seed spread;
#   at 1000 MAE's kNN gain is about 10 points (projects/ssl_eval/README.md),
# - one ViT shape (`mim_arch`, patch 8 -> 5 x 5 tokens at 40 px; MAEViT, or
#   BEiTPretrainViT of the same shape where mmpretrain's algorithm needs it),
# - one optimiser: AdamW (lr 1e-3, betas (0.9, 0.95), wd 0.05, no decay on
#   norms, biases, position embeddings and special tokens),
# - one view: RandomResizedCrop(40, scale 0.2-1, bicubic) + flip; methods
#   whose loss compares two views (SIM) add their own colour pipeline on
#   top of the same crop range.
_base_ = './fair_tiny_synthetic-imagenet.py'

mim_arch = dict(embed_dims=64, num_layers=4, depth=4, num_heads=4,
                feedforward_channels=128)
patch_size = 8
grid = 5  # 40 / 8
num_patches = 25
crop = 40
mim_view_pipeline = [
    dict(type='RandomResizedCrop', scale=crop, crop_ratio_range=(0.2, 1.),
         backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),
]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    *mim_view_pipeline,
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.95),
                   weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0,
                       custom_keys={
                           'pos_embed': dict(decay_mult=0.),
                           'mask_token': dict(decay_mult=0.),
                           'cls_token': dict(decay_mult=0.),
                           'gamma': dict(decay_mult=0.),
                       }))
# the same warm-up share (10 %) and cosine decay as the ResNet group
max_iters = 1000
warmup_iters = 100
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0,
         end=warmup_iters),
    dict(type='CosineAnnealingLR', T_max=max_iters - warmup_iters,
         eta_min=0., by_epoch=False, begin=warmup_iters, end=max_iters),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=max_iters)
default_hooks = dict(checkpoint=dict(interval=max_iters))
# the algorithm configs define the whole model
model = dict(_delete_=True)
