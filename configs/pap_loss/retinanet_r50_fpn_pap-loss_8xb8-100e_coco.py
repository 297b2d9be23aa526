# RetinaNet R-50 FPN trained with the released searched PAP loss, on the
# official AP-Loss/aLRP 512 px protocol (100 epochs, 8 GPUs x 8 images).
# Official COCO val AP: 40.5 (Focal+GIoU 39.2, aLRP 39.0).
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['projects.pap_loss'],
                      allow_failed_imports=False)

model = dict(
    bbox_head=dict(
        type='PAPRetinaHead',
        anchor_generator=dict(scales_per_octave=2),
        reg_weight=4.1231,  # reg_weight of params/retinanet.json
        reg_input='giou',
        loss_pap=dict(type='PAPLoss', num_topk=100000,
                      params_file='projects/pap_loss/params/retinanet.json')),
    test_cfg=dict(score_thr=0.05))

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

max_epochs = 100
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs,
                 val_interval=10)
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.016, momentum=0.9, weight_decay=0.0001))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
         end=500),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True,
         milestones=[60, 80], gamma=0.1)
]
auto_scale_lr = dict(enable=False, base_batch_size=64)
