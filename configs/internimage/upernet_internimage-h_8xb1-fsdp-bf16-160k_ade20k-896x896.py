# UPerNet with InternImage-H on ADE20K, the official recipe (segmentation/
# configs/ade20k/upernet_internimage_h_896_160k_ade20k.py): 160k iterations,
# 8 GPUs x 1 image, 896x896 crops, AdamW lr 2e-5, weight decay 0.05,
# layer-wise lr decay 0.95 over 50 layers, 1500 linear warm-up iterations
# then poly (power 1), gradient norm clipped to 0.1, drop path 0.4, no layer
# scale, activation checkpointing per block, whole-image test at
# (3584, 896). Official: 59.9 mIoU single-scale / 60.3 multi-scale (with
# the jointly pre-trained H backbone).
# Trained fully sharded like the XL config it derives from: one FSDP unit
# per InternImage block, bf16 compute, fp32 gradient reduction, bf16
# autocast for the losses, plain full checkpoints.
# Weights: tools/model_converters/internimage_to_visionplug.py on the
# released H checkpoint -> the file named below.
_base_ = './upernet_internimage-xl_8xb2-fsdp-bf16-160k_ade20k-640x640.py'

checkpoint_file = 'checkpoints/internimage-h_jointto22k_visionplug.pth'
crop_size = (896, 896)
channels = [320, 640, 1280, 2560]
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        arch='h',
        drop_path_rate=0.4,
        layer_scale=None,
        with_cp=True,
        init_cfg=dict(checkpoint=checkpoint_file)),
    decode_head=dict(in_channels=channels),
    auxiliary_head=dict(in_channels=channels[2]))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomResize', scale=(3584, 896), ratio_range=(0.5, 2.0),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(3584, 896), keep_ratio=True),
    dict(type='ResizeToMultiple', size_divisor=32),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs')
]
train_dataloader = dict(batch_size=1, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(
    paramwise_cfg=dict(
        layer_decay_rate=0.95, num_layers=50, depths=[6, 6, 32, 6]))
