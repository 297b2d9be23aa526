# Tiny CPU check of G2SD specific distillation for detection: a Faster
# R-CNN student on a nano ViT (32-d, patch 16) + SimpleFPN (5 levels, 32
# channels) is trained with its own losses plus the G2SD neck-feature and
# RPN-objectness distillation towards a randomly initialised, frozen Faster
# R-CNN teacher on a 48-d nano ViT, on synthetic COCO (128 px). Real-data
# counterpart (Mask R-CNN, as the paper):
# mask-rcnn_vit-small-p16_simple-fpn_g2sd-distill_8xb8-100e_coco.py.
_base_ = [
    'mmdet::_base_/models/faster-rcnn_r50_fpn.py',
    '../_base_/datasets/synthetic_coco.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['projects.g2sd', 'projects.simple_fpn'],
                      allow_failed_imports=False)

max_iters = 40
width = 32
rpn_head = dict(
    type='RPNHead', in_channels=width, feat_channels=width,
    anchor_generator=dict(type='AnchorGenerator', scales=[2],
                          ratios=[0.5, 1.0, 2.0],
                          strides=[4, 8, 16, 32, 64]),
    bbox_coder=dict(type='DeltaXYWHBBoxCoder',
                    target_means=[.0, .0, .0, .0],
                    target_stds=[1.0, 1.0, 1.0, 1.0]),
    loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=True,
                  loss_weight=1.0),
    loss_bbox=dict(type='L1Loss', loss_weight=1.0))
roi_head = dict(
    bbox_roi_extractor=dict(out_channels=width,
                            featmap_strides=[4, 8, 16, 32]),
    bbox_head=dict(in_channels=width, fc_out_channels=64))
model = dict(
    type='G2SDTwoStageDetector',
    backbone=dict(
        _delete_=True,
        type='mmpretrain.VisionTransformer',
        arch=dict(embed_dims=32, num_layers=2, num_heads=2,
                  feedforward_channels=128),
        img_size=128, patch_size=16, out_type='featmap'),
    neck=dict(
        _delete_=True,
        type='SimpleFPN', backbone_channel=32, in_channels=[8, 16, 32, 32],
        out_channels=width, num_outs=5,
        norm_cfg=dict(type='LN2d', requires_grad=True)),
    rpn_head=rpn_head,
    roi_head=roi_head,
    # random frozen stand-in for the fine-tuned teacher detector
    teacher=dict(
        type='FasterRCNN',
        data_preprocessor=dict(type='DetDataPreprocessor'),
        backbone=dict(
            type='mmpretrain.VisionTransformer',
            arch=dict(embed_dims=48, num_layers=2, num_heads=2,
                      feedforward_channels=192),
            img_size=128, patch_size=16, out_type='featmap'),
        neck=dict(
            type='SimpleFPN', backbone_channel=48,
            in_channels=[12, 24, 48, 48], out_channels=width, num_outs=5,
            norm_cfg=dict(type='LN2d', requires_grad=True)),
        rpn_head=rpn_head,
        roi_head=dict(
            type='StandardRoIHead',
            bbox_roi_extractor=dict(
                type='SingleRoIExtractor',
                roi_layer=dict(type='RoIAlign', output_size=7,
                               sampling_ratio=0),
                out_channels=width, featmap_strides=[4, 8, 16, 32]),
            bbox_head=dict(
                type='Shared2FCBBoxHead', in_channels=width,
                fc_out_channels=64, roi_feat_size=7, num_classes=80,
                bbox_coder=dict(type='DeltaXYWHBBoxCoder',
                                target_means=[0., 0., 0., 0.],
                                target_stds=[0.1, 0.1, 0.2, 0.2]),
                reg_class_agnostic=False,
                loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False,
                              loss_weight=1.0),
                loss_bbox=dict(type='L1Loss', loss_weight=1.0))),
        train_cfg=None,
        test_cfg=dict(
            rpn=dict(nms_pre=1000, max_per_img=1000,
                     nms=dict(type='nms', iou_threshold=0.7),
                     min_bbox_size=0),
            rcnn=dict(score_thr=0.05, nms=dict(type='nms',
                                               iou_threshold=0.5),
                      max_per_img=100))),
    num_levels=5,
    feat_channels=width,
    adapter_kernel=3,
    feat_weight=1e-3,
    score_weight=0.1,
    warmup_iters=10,
    save_teacher=False)

train_dataloader = dict(batch_size=2, num_workers=2, persistent_workers=True)
val_dataloader = dict(batch_size=8, num_workers=2, persistent_workers=True)
test_dataloader = val_dataloader

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
    paramwise_cfg=dict(flat_decay_mult=0.0),
    clip_grad=dict(max_norm=10, norm_type=2))
param_scheduler = [
    dict(type='CosineAnnealingLR', by_epoch=False, begin=0, end=max_iters,
         eta_min=1e-5)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', by_epoch=False,
                    interval=max_iters, max_keep_ckpts=1))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
auto_scale_lr = dict(enable=False, base_batch_size=2)
