# Fair benchmark, tiny CPU scale: the masked-image-modelling algorithms
# (MAE, BEiT v2). Schedule, batch, optimiser, crop, data and the kNN
# evaluation are inherited unchanged from the Siamese base; the shared ViT
# (`mim_arch`, patch 8 -> 5 x 5 tokens at 40 px) replaces its backbone,
# because MIM needs a backbone that drops (MAE) or masks (BEiT) tokens.
# Views: one RandomResizedCrop (same scale range as the Siamese views)
# + flip; no colour augmentation (as in MAE / BEiT).
_base_ = './fair_tiny_synthetic-imagenet.py'

mim_arch = dict(embed_dims=64, num_layers=4, depth=4, num_heads=4,
                feedforward_channels=128)
patch_size = 8
num_patches = 25  # (40 / 8) ** 2
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

# the algorithm configs define the whole model
model = dict(_delete_=True)
