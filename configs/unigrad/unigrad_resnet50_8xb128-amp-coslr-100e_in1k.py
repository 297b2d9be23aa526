# UniGrad (Tao et al., CVPR 2022) ResNet-50 pre-training on ImageNet-1k with
# the official settings (fundamentalvision/UniGrad configs/unigrad.py):
# two symmetric MoCo v2 views at 224 px, 3-layer 2048-d projector without a
# predictor, lambda=100, rho=0.99, momentum 0.996 -> 1 (cosine), SGD
# lr 0.05 x 1024 / 256 = 0.2, wd 1e-4, 5 warm-up epochs from 1e-3 x lr,
# cosine to 1e-3 x lr, 100 epochs, total batch 1024, AMP, SyncBN.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs32_mocov2.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['projects.unigrad'], allow_failed_imports=False)

train_dataloader = dict(batch_size=128)

model = dict(
    type='UniGrad',
    lambd=100.,
    rho=0.99,
    base_momentum=0.004,  # mmengine convention: 1 - 0.996
    backbone=dict(
        type='ResNet',
        depth=50,
        norm_cfg=dict(type='SyncBN'),
        zero_init_residual=True),
    neck=dict(
        type='NonLinearNeck',
        in_channels=2048,
        hid_channels=2048,
        out_channels=2048,
        num_layers=3,
        with_bias=False,
        with_last_bn=False,
        with_last_bias=True,
        with_avg_pool=True,
        norm_cfg=dict(type='SyncBN')),
)

max_epochs = 100
warmup_epochs = 5
lr = 0.05 * 1024 / 256
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(type='SGD', lr=lr, momentum=0.9, weight_decay=1e-4))
# Official schedule: linear warm-up from 1e-3 x lr, then
# lr = min + (lr - min) (1 + cos(pi (step - warmup) / total)) / 2 with
# total = all steps (T_max below), so it stops short of the floor.
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=1e-3 * lr,
         by_epoch=True, begin=warmup_epochs, end=max_epochs,
         convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=3))
# UniGrad's `loss` is its objective; `pos_sim` and `corr_norm` are monitors
auto_scale_lr = dict(base_batch_size=1024)
