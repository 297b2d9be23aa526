# UPerNet with a Hiera-B backbone on ADE20K, 512x512 crops, 160k iters.
# No official Hiera segmentation number exists. Test uses sliding 512x512
# windows so every crop is a multiple of 32 (Hiera's requirement).
_base_ = [
    'mmseg::_base_/models/upernet_r50.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_160k.py',
]
custom_imports = dict(imports=['projects.hiera'], allow_failed_imports=False)

crop_size = (512, 512)
model = dict(
    data_preprocessor=dict(size=crop_size),
    pretrained=None,
    backbone=dict(
        _delete_=True, type='HieraDense', arch='base', img_size=224,
        out_indices=(0, 1, 2, 3), drop_path_rate=0.2,
        init_cfg=dict(type='Pretrained', prefix='backbone.',
                      checkpoint='checkpoints/hiera-base_in1k.pth')),
    decode_head=dict(in_channels=[96, 192, 384, 768], num_classes=150),
    auxiliary_head=dict(in_channels=384, num_classes=150),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(341, 341)))

optim_wrapper = dict(
    _delete_=True, type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999),
                   weight_decay=0.01),
    paramwise_cfg=dict(custom_keys={'pos_embed': dict(decay_mult=0.)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0,
         end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1500, end=160000,
         by_epoch=False)
]
train_dataloader = dict(batch_size=2)
