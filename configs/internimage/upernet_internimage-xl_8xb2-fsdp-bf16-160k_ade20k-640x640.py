# UPerNet with InternImage-XL (ImageNet-22k pre-trained at 384) on ADE20K,
# the official recipe (segmentation/configs/ade20k/upernet_internimage_xl_
# 640_160k_ade20k.py): 160k iterations, 8 GPUs x 2 images, 640x640 crops,
# AdamW lr 2e-5, weight decay 0.05, layer-wise lr decay 0.94 over 39 layers,
# 1500 linear warm-up iterations then poly (power 1), gradient norm clipped
# to 0.1, drop path 0.4, layer scale 1.0, whole-image test at (2560, 640).
# Official: 55.0 mIoU single-scale / 55.3 multi-scale, 368M parameters.
# Trained fully sharded (FSDP, mmengine's FlexibleRunner; launch with
# tools/dist_train.sh): one FSDP unit per InternImage block, bf16 compute
# and fp32 gradient reduction, bf16 autocast for the losses; checkpoints are
# plain full state dicts (state_dict_cfg='full').
# Weights: tools/model_converters/internimage_to_visionplug.py
#   internimage_xl_22k_192to384.pth checkpoints/internimage-xl_in22k_visionplug.pth
_base_ = './upernet_internimage-t_8xb2-160k_ade20k-512x512.py'
custom_imports = dict(imports=['projects.internimage', 'projects.run_config'],
                      allow_failed_imports=False)

checkpoint_file = 'checkpoints/internimage-xl_in22k_visionplug.pth'
crop_size = (640, 640)
channels = [192, 384, 768, 1536]
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        arch='xl',
        drop_path_rate=0.4,
        layer_scale=1.0,
        init_cfg=dict(checkpoint=checkpoint_file)),
    decode_head=dict(in_channels=channels),
    auxiliary_head=dict(in_channels=channels[2]))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomResize', scale=(2560, 640), ratio_range=(0.5, 2.0),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2560, 640), keep_ratio=True),
    dict(type='ResizeToMultiple', size_divisor=32),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs')
]
train_dataloader = dict(batch_size=2, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(
    type='AmpOptimWrapper',
    dtype='bfloat16',
    optimizer=dict(lr=2e-5),
    paramwise_cfg=dict(
        layer_decay_rate=0.94, num_layers=39, depths=[5, 5, 24, 5]),
    clip_grad=dict(max_norm=0.1, norm_type=2))

runner_type = 'FlexibleRunner'
strategy = dict(
    type='FSDPStrategy',
    model_wrapper=dict(
        auto_wrap_policy=dict(
            type='wrap_module_classes',
            classes=['projects.internimage.internimage.InternImageLayer']),
        mixed_precision=dict(param_dtype='bfloat16', reduce_dtype='float32',
                             buffer_dtype='float32')),
    state_dict_cfg='full')
