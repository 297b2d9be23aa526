# SIM (projects.sim: the masked view 1 predicts the momentum encoder's
# dense features of view 2 at their relative positions; UniGrad-style
# loss) in the tiny fair benchmark: ViT, schedule, batch, optimiser, crop
# range and kNN evaluation come from the shared bases. SIM's own parts:
# two views with the official colour pipelines (BYOL's pair, the blur
# sigma scaled x 40 / 224 as in the Siamese base), block mask of 15 of
# the 25 view-1 patches (the official 118 / 196 = 60 %), projector and
# predictor at the ViT width, target momentum 0.99 -> 1 (the base's).
_base_ = './_base_/fair-mim_tiny_synthetic-imagenet.py'
custom_imports = dict(imports=['projects.ssl_eval', 'projects.sim'],
                      allow_failed_imports=False)

blur = (0.1 * 40 / 224, 2.0 * 40 / 224)
view_pipeline1 = [
    dict(type='RandomApply',
         transforms=[dict(type='ColorJitter', brightness=0.4, contrast=0.4,
                          saturation=0.2, hue=0.1)],
         prob=0.8),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
         channel_weights=(0.114, 0.587, 0.2989)),
    dict(type='GaussianBlur', magnitude_range=blur, magnitude_std='inf',
         prob=1.),
]
view_pipeline2 = [
    dict(type='RandomApply',
         transforms=[dict(type='ColorJitter', brightness=0.4, contrast=0.4,
                          saturation=0.2, hue=0.1)],
         prob=0.8),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
         channel_weights=(0.114, 0.587, 0.2989)),
    dict(type='GaussianBlur', magnitude_range=blur, magnitude_std='inf',
         prob=0.1),
    dict(type='Solarize', thr=128, prob=0.2),
]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='SIMTwoViews', crop_size={{_base_.crop}},
         crop_ratio_range=(0.2, 1.0), flip_prob=0.5,
         interpolation='bicubic', backend='pillow',
         view_pipelines=[view_pipeline1, view_pipeline2]),
    dict(type='SIMMaskGenerator', input_size={{_base_.grid}},
         num_masking_patches=15, min_num_patches=3),
    dict(type='PackInputs', algorithm_keys=['rel_pos']),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

model = dict(
    type='SIM',
    data_preprocessor={{_base_.selfsup_preprocessor}},
    backbone=dict(type='MAEViT', arch={{_base_.mim_arch}},
                  img_size={{_base_.crop}},
                  patch_size={{_base_.patch_size}}, final_norm=False),
    neck=dict(type='SIMProjector', in_channels=64, embed_dims=64,
              num_layers=1, num_heads=4),
    head=dict(type='SIMHead', embed_dims=64, num_layers=2, num_heads=4,
              loss=dict(type='SIMLoss', neg_weight=0.02)),
    base_momentum={{_base_.ema_momentum}},
    train_patch_embed=False,
    init_cfg=[
        dict(type='Xavier', layer='Linear', distribution='uniform'),
        dict(type='Constant', layer='LayerNorm', val=1.0, bias=0.0),
    ])
