# Fair benchmark on ImageNet-1k, masked image modelling (MAE, BEiT v2):
# epochs, batch, schedule shape (10 warm-up epochs + cosine), crop, seed
# and the kNN evaluation are inherited unchanged from the Siamese base.
# The backbone is the shared ViT-B/16 (`mim_arch`) because MIM needs a
# backbone that drops (MAE) or masks (BEiT) tokens, and the optimiser is
# the MIM one (AdamW, lr 1.5e-4 x 256 / 256, betas (0.9, 0.95), wd 0.05),
# identical for both: SGD does not train ViT MIM well.
# Views: one RandomResizedCrop (0.2-1, as the Siamese views) + flip.
_base_ = './fair_resnet50_8xb32-200e_in1k.py'

mim_arch = 'base'
patch_size = 16
num_patches = 196
mim_view_pipeline = [
    dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.2, 1.),
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
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(type='AdamW', lr=1.5e-4, betas=(0.9, 0.95),
                   weight_decay=0.05),
    paramwise_cfg=dict(custom_keys={
        'ln': dict(decay_mult=0.0),
        'bias': dict(decay_mult=0.0),
        'pos_embed': dict(decay_mult=0.),
        'mask_token': dict(decay_mult=0.),
        'cls_token': dict(decay_mult=0.),
        'gamma': dict(decay_mult=0.),
    }))
model = dict(_delete_=True)
