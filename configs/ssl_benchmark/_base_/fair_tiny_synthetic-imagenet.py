# Fair benchmark, tiny CPU scale (the SSL patterns set, ImageNet layout,
# 40 px): the settings every algorithm of a group shares. Huang et al. (ECCV 2022, megvii-research/
# revisitAIRL) equalise backbone, projector/predictor, epochs, batch,
# optimiser, augmentation, momentum (EMA) schedule and evaluation so that
# only the framework differs; the algorithm configs next to this file only
# add their own keys (type, head/loss, queue ...). Real-size counterpart:
# fair_resnet50_8xb32-200e_in1k.py.
#
# THE BACKBONE IS SET HERE, ONCE, for every Siamese algorithm
# (MoCo v2, BYOL, SimSiam, Barlow Twins, UniGrad): replace `backbone` and
# `feat_channels` (its output channels), e.g. a VisionPlug backbone
#   backbone = dict(type='RevCol', arch=dict(channels=[16, 32, 64, 128],
#                   layers=[1, 1, 1, 1], num_subnet=4), out_indices=(3, ))
#   feat_channels = 128
# and add its package to `custom_imports` (tests/ssl_eval checks both).
# The masked-image-modelling algorithms (MAE, BEiT v2) need a ViT that can
# drop or mask tokens: their shared ViT is `mim_arch` in
# fair-mim_tiny_synthetic-imagenet.py, which inherits everything else.
_base_ = ['mmpretrain::_base_/default_runtime.py']
custom_imports = dict(imports=['projects.ssl_eval'],
                      allow_failed_imports=False)

# ---- backbone (the one place to swap it) ---------------------------------
backbone = dict(
    type='ResNet',
    depth=18,
    stem_channels=16,
    base_channels=16,  # ResNet-18 at 1/4 width: 16-32-64-128
    norm_cfg=dict(type='BN'),
    zero_init_residual=True)
feat_channels = 128

# ---- projector / predictor (same widths and depth for every algorithm) ---
proj_hidden = 256
proj_out = 64
projector = dict(
    type='NonLinearNeck',  # Linear-BN-ReLU-Linear, as in the paper
    in_channels=feat_channels,
    hid_channels=proj_hidden,
    out_channels=proj_out,
    num_layers=2,
    with_bias=True,
    with_last_bn=False,
    with_avg_pool=True)
predictor = dict(
    type='NonLinearNeck',
    in_channels=proj_out,
    hid_channels=proj_hidden,
    out_channels=proj_out,
    num_layers=2,
    with_bias=True,
    with_last_bn=False,
    with_avg_pool=False)
# target momentum in mmengine's convention (1 - tau): tau 0.99 -> 1 (cosine)
ema_momentum = 0.01

# ---- schedule, batch, optimiser (the ResNet + SGD group) -----------------
# The Siamese algorithms share SGD as in the paper (momentum 0.9, linear
# warm-up + cosine); the ViT group (fair-mim_*) shares AdamW instead.
max_iters = 200
warmup_iters = 20
batch_size = 32
lr = 0.06
weight_decay = 5e-4
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=lr, momentum=0.9,
                   weight_decay=weight_decay))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0,
         end=warmup_iters),
    dict(type='CosineAnnealingLR', T_max=max_iters - warmup_iters,
         eta_min=0., by_epoch=False, begin=warmup_iters, end=max_iters),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=max_iters)

# ---- data: the SSL patterns set --------------------------------------------
# 10 classes of two-colour patterns (texture / layout); colours carry no class
# information (tools/dataset_converters/make_synthetic.py ssl_patterns
# --size 40 40; projects/synthetic_data/ssl_patterns.py). ImageNet layout,
# labels 0-9 (their names are in meta/classes.txt; the evaluation uses the
# labels only).
data_root = 'data/ssl_patterns/'

# ---- augmentation: two symmetric MoCo v2 / BYOL-style views ---------------
# MoCo v2's views at 40 px: crop scale, jitter, grayscale and flip as on
# ImageNet; the Gaussian blur's sigma range (0.1, 2.0) px at 224 px is
# scaled with the image, x 40 / 224. Colour augmentation matters: without
# it two crops are matched by their shared colours, not by the object.
crop = 40
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=crop, edge='short'),
    dict(type='CenterCrop', crop_size=crop),
    dict(type='PackInputs'),
]
view_pipeline = [
    dict(type='RandomResizedCrop', scale=crop, crop_ratio_range=(0.2, 1.),
         backend='pillow'),
    dict(type='RandomApply',
         transforms=[dict(type='ColorJitter', brightness=0.4, contrast=0.4,
                          saturation=0.4, hue=0.1)],
         prob=0.8),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
         channel_weights=(0.114, 0.587, 0.2989)),
    dict(type='GaussianBlur', magnitude_range=(0.1 * crop / 224,
                                               2.0 * crop / 224),
         magnitude_std='inf', prob=0.5),
    dict(type='RandomFlip', prob=0.5),
]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=2, transforms=[view_pipeline]),
    dict(type='PackInputs'),
]
selfsup_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)
data_preprocessor = selfsup_preprocessor
train_dataloader = dict(
    batch_size=batch_size, num_workers=2, persistent_workers=True,
    drop_last=True, collate_fn=dict(type='default_collate'),
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type='ImageNet', data_root=data_root, split='train',
                 pipeline=train_pipeline))

# ---- evaluation: weighted kNN (k=20, T=0.07) of the backbone features -----
# bank = the labelled train split, queries = the val split, test pipeline
bank_dataloader = dict(
    batch_size=64, num_workers=2, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='ImageNet', data_root=data_root, split='train',
                 pipeline=test_pipeline))
val_dataloader = dict(batch_size=64, num_workers=2,
                      persistent_workers=False,
                      sampler=dict(type='DefaultSampler', shuffle=False),
                      collate_fn=dict(type='default_collate'),
                      dataset=dict(type='ImageNet', data_root=data_root,
                                   split='val', pipeline=test_pipeline))
val_cfg = dict(type='KNNValLoop', bank_dataloader=bank_dataloader)
val_evaluator = dict(type='KNNAccuracy', k=20, temperature=0.07,
                     topk=(1, 5))
test_dataloader = val_dataloader
test_cfg = dict(type='KNNTestLoop', bank_dataloader=bank_dataloader)
test_evaluator = val_evaluator

model = dict(
    backbone=backbone,
    neck=projector,
    data_preprocessor=selfsup_preprocessor)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=25),
    checkpoint=dict(type='CheckpointHook', by_epoch=False,
                    interval=max_iters, max_keep_ckpts=1))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
auto_scale_lr = dict(enable=False, base_batch_size=batch_size)
