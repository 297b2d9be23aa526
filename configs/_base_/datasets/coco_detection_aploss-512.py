# COCO with the AP-Loss / aLRP / PAP training protocol: 512x512 training
# crops with SSD-style augmentation (photometric distortion, Expand 1-4,
# MinIoURandomCrop), testing at (833, 500) keeping the aspect ratio;
# 8 images per GPU.
_base_ = 'mmdet::_base_/datasets/coco_detection.py'

input_size = 512
backend_args = None
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PhotoMetricDistortion', brightness_delta=32,
         contrast_range=(0.5, 1.5), saturation_range=(0.5, 1.5),
         hue_delta=18),
    dict(type='Expand', mean=[123.675, 116.28, 103.53], to_rgb=True,
         ratio_range=(1, 4)),
    dict(type='MinIoURandomCrop', min_ious=(0.1, 0.3, 0.5, 0.7, 0.9),
         min_crop_size=0.3),
    dict(type='Resize', scale=(input_size, input_size), keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=(833, 500), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                    'scale_factor'))
]
train_dataloader = dict(batch_size=8, num_workers=4,
                        dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
