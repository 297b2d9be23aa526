# UPerNet with InternImage-T (ImageNet-1k pretrained) on ADE20K, the official
# recipe (segmentation/configs/ade20k/upernet_internimage_t_512_160k_ade20k
# .py): 160k iterations, 8 GPUs x 2 images, 512x512 crops, AdamW lr 6e-5,
# weight decay 0.05, the official layer-wise decay constructor with rate 1.0
# (no lr decay; no weight decay on norms, biases and 1-D parameters), 1500
# linear warm-up iterations then poly (power 1.0),
# drop path 0.2, layer scale 1.0, whole-image test at (2048, 512) resized to
# a multiple of 32.
# Official: 47.9 mIoU single-scale / 48.1 multi-scale, 59M params, 944G FLOPs.
# Pretrained weights: the official internimage_t_1k_224.pth converted with
# tools/model_converters/internimage_to_visionplug.py.
_base_ = 'mmseg::upernet/upernet_r50_4xb4-160k_ade20k-512x512.py'
custom_imports = dict(imports=['projects.internimage'],
                      allow_failed_imports=False)

checkpoint_file = 'checkpoints/internimage-t_in1k_visionplug.pth'
model = dict(
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='InternImage',
        arch='t',
        drop_path_rate=0.2,
        layer_scale=1.0,
        out_indices=(0, 1, 2, 3),
        init_cfg=dict(
            type='Pretrained', checkpoint=checkpoint_file,
            prefix='backbone.')),
    decode_head=dict(in_channels=[64, 128, 256, 512], num_classes=150),
    auxiliary_head=dict(in_channels=256, num_classes=150),
    test_cfg=dict(mode='whole'))

test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 512), keep_ratio=True),
    dict(type='ResizeToMultiple', size_divisor=32),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs')
]
train_dataloader = dict(batch_size=2)
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='InternImageLayerDecayOptimizerConstructor',
    paramwise_cfg=dict(
        layer_decay_rate=1.0, num_layers=30, depths=[4, 4, 18, 4]))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0,
         end=1500),
    dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False, begin=1500,
         end=160000)
]
