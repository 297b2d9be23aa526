# Fair benchmark on ImageNet-1k (Huang, Kong, Zhang, "Revisiting the
# Critical Factors of Augmentation-Invariant Representation Learning",
# ECCV 2022, megvii-research/revisitAIRL): the settings every Siamese
# algorithm shares, so that only the framework differs. As in the paper:
# ResNet-50 with SyncBN in both branches, projector Linear-BN-ReLU-Linear
# 2048-4096-256 and the same 256-4096-256 predictor wherever an algorithm
# has one, 200 epochs, batch 256, SGD (lr 0.03, momentum 0.9, wd 1e-4,
# 10 warm-up epochs + cosine), two MoCo v2 views, target momentum
# 0.99 -> 1 (cosine) wherever there is a target network; evaluation: kNN
# (k=20, T=0.07) at the end and the SGD linear protocol
# (configs/ssl_eval/resnet50_fair-pre_8xb32-linear-steplr-100e_in1k.py).
#
# THE BACKBONE IS SET HERE, ONCE: replace `backbone` and `feat_channels`
# (and add its package to custom_imports) to run every algorithm on another
# backbone; the algorithm configs never name one.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs32_mocov2.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['projects.ssl_eval'],
                      allow_failed_imports=False)

# ---- backbone (the one place to swap it) ---------------------------------
backbone = dict(
    type='ResNet',
    depth=50,
    norm_cfg=dict(type='SyncBN'),
    zero_init_residual=False)
feat_channels = 2048

# ---- projector / predictor ---------------------------------------------------
proj_hidden = 4096
proj_out = 256
projector = dict(
    type='NonLinearNeck',
    in_channels=feat_channels,
    hid_channels=proj_hidden,
    out_channels=proj_out,
    num_layers=2,
    with_bias=True,
    with_last_bn=False,
    with_avg_pool=True,
    norm_cfg=dict(type='SyncBN'))
predictor = dict(
    type='NonLinearNeck',
    in_channels=proj_out,
    hid_channels=proj_hidden,
    out_channels=proj_out,
    num_layers=2,
    with_bias=True,
    with_last_bn=False,
    with_avg_pool=False,
    norm_cfg=dict(type='SyncBN'))
ema_momentum = 0.01  # mmengine convention: tau = 0.99 -> 1 (cosine)

# ---- schedule, batch, optimiser --------------------------------------------
max_epochs = 200
warmup_epochs = 10
batch_size = 32  # x 8 GPUs = 256
crop = 224
train_dataloader = dict(batch_size=batch_size)
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.03, momentum=0.9, weight_decay=1e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs,
         eta_min=0., by_epoch=True, begin=warmup_epochs, end=max_epochs,
         convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs,
                 val_interval=max_epochs)

# ---- evaluation: weighted kNN (k=20, T=0.07) of the backbone features -----
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='short', backend='pillow'),
    dict(type='CenterCrop', crop_size=crop),
    dict(type='PackInputs'),
]
bank_dataloader = dict(
    batch_size=128, num_workers=8, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='ImageNet', data_root='data/imagenet', split='train',
                 pipeline=test_pipeline))
val_dataloader = dict(
    batch_size=128, num_workers=8, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='ImageNet', data_root='data/imagenet', split='val',
                 pipeline=test_pipeline))
val_cfg = dict(type='KNNValLoop', bank_dataloader=bank_dataloader)
val_evaluator = dict(type='KNNAccuracy', k=20, temperature=0.07,
                     topk=(1, 5))
test_dataloader = val_dataloader
test_cfg = dict(type='KNNTestLoop', bank_dataloader=bank_dataloader)
test_evaluator = val_evaluator

model = dict(
    backbone=backbone,
    neck=projector,
    data_preprocessor={{_base_.data_preprocessor}})

default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=3))
randomness = dict(seed=0, diff_rank_seed=True)
auto_scale_lr = dict(base_batch_size=256)
