# Fair benchmark, tiny CPU scale: the ViT + AdamW group (MAE, BEiT v2, SIM,
# MaskDistill, G2SD, FLIP: every one of them masks or drops tokens, so
# they need a ViT). Iterations, warm-up + cosine schedule shape, batch,
# data, crop size and scale range, and the kNN evaluation are inherited
# unchanged from the ResNet + SGD base; this group shares instead:
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
# the algorithm configs define the whole model
model = dict(_delete_=True)
