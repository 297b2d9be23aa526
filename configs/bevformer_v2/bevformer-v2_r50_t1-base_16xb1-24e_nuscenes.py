# BEVFormer v2, ResNet-50 (COCO FCOS-pretrained, caffe style), single frame,
# "base" recipe: 640x1600 crop, no image flip, no BEV augmentation, plain DETR
# queries, perspective head as an auxiliary loss (the released model; hybrid
# queries: bevformer-v2_r50_t1-hybrid_16xb1-48e_nuscenes.py). Official
# projects/configs/bevformerv2/bevformerv2-r50-t1-base-24ep.py:
# NDS 0.4257 / mAP 0.3512 on nuScenes val, 23952M training memory.
# Pretrained weights: the official FCOS COCO checkpoint
# (fcos_r50_coco_2mmdet.pth), or a converted official BEVFormer v2
# checkpoint (tools/model_converters/bevformer_v2_to_visionplug.py).
_base_ = [
    '../_base_/datasets/nuscenes_bev.py', 'mmdet::_base_/default_runtime.py'
]
custom_imports = dict(imports=['projects.bevformer_v2'],
                      allow_failed_imports=False)

point_cloud_range = [-51.2, -51.2, -5.0, 51.2, 51.2, 3.0]
frames = (0, )
num_cams = 6
embed_dims = 256
bev_h = bev_w = 200
group_detr = 1
img_height = 640

model = dict(
    type='BEVFormerV2',
    frames=frames,
    num_levels=4,
    num_mono_levels=5,
    mono_loss_weight=1.0,
    use_grid_mask=True,
    use_hybrid_queries=False,
    data_preprocessor=dict(
        type='BEVDataPreprocessor',
        mean=[103.53, 116.28, 123.675],
        std=[1.0, 1.0, 1.0],
        bgr_to_rgb=False,
        pad_size_divisor=32),
    img_backbone=dict(
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(1, 2, 3),
        frozen_stages=-1,
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        norm_eval=False,
        style='caffe',
        init_cfg=None),
    img_neck=dict(
        type='FPN',
        in_channels=[512, 1024, 2048],
        out_channels=embed_dims,
        start_level=0,
        add_extra_convs='on_output',
        num_outs=5,
        relu_before_extra_convs=True),
    pts_bbox_head=dict(
        type='BEVFormerHead',
        bev_h=bev_h,
        bev_w=bev_w,
        num_query=900,
        group_detr=group_detr,
        num_classes=10,
        embed_dims=embed_dims,
        code_size=10,
        code_weights=[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.2, 0.2],
        pc_range=point_cloud_range,
        num_proposals=0,
        with_box_refine=True,
        positional_encoding=dict(
            type='LearnedPositionalEncoding', num_feats=embed_dims // 2),
        transformer=dict(
            type='PerceptionTransformerV2',
            num_feature_levels=4,
            num_cams=num_cams,
            frames=frames,
            num_fusion=3,
            fusion_norm_cfg=dict(type='SyncBN', requires_grad=True),
            encoder=dict(
                num_layers=6,
                pc_range=point_cloud_range,
                num_points_in_pillar=4,
                feedforward_channels=512,
                dropout=0.1,
                tsa_cfg=dict(num_heads=8, num_levels=1, num_points=4),
                sca_cfg=dict(
                    deformable_attention=dict(
                        num_heads=8, num_levels=4, num_points=8))),
            decoder=dict(
                num_layers=6,
                num_heads=8,
                feedforward_channels=512,
                dropout=0.1,
                group=group_detr,
                cross_attn_cfg=dict(num_heads=8, num_levels=1,
                                    num_points=4))),
        bbox_coder=dict(
            type='NMSFreeCoder',
            post_center_range=[-61.2, -61.2, -10.0, 61.2, 61.2, 10.0],
            max_num=300),
        assigner=dict(
            type='HungarianAssigner3D',
            cls_cost=dict(type='FocalLossCost', weight=2.0),
            reg_cost=dict(type='SmoothL1Cost', weight=0.75)),
        loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0,
                      alpha=0.25, loss_weight=2.0),
        loss_bbox=dict(type='SmoothL1Loss', beta=1.0, loss_weight=0.75)),
    fcos3d_bbox_head=dict(
        type='NuscenesDD3D',
        num_classes=10,
        in_channels=embed_dims,
        strides=(8, 16, 32, 64, 128),
        num_convs=4,
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        sizes_of_interest=((-1, 64), (64, 128), (128, 256), (256, 512),
                           (512, 1e8)),
        center_sample_radius=1.5,
        mean_depth_per_level=(44.921, 20.252, 11.712, 7.166, 8.548),
        std_depth_per_level=(24.331, 9.833, 6.223, 4.611, 8.275),
        box3d_loss_weight=2.0,
        conf3d_loss_weight=1.0,
        smooth_l1_beta=0.05,
        max_loss_per_group=20.0,
        attr_loss_weight=0.2,
        speed_loss_weight=0.2))

# t1-base: 640 px, no flip, no BEV augmentation
train_pipeline = [
    dict(type='LoadMultiViewImages'),
    dict(type='PhotoMetricDistortionMultiView'),
    dict(type='ObjectRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='ObjectNameFilter', classes={{_base_.class_names}}),
    dict(type='CropResizeFlipImage', crop=(0, 260, 1600, 900),
         heights=(img_height, ), flip_prob=0.0),
    dict(type='PerspectiveAnnotations', min_points=3, min_visible=0.2),
    dict(type='PackBEVInputs')
]
train_dataloader = dict(
    batch_size=1,
    dataset=dict(frame_offsets=frames, pipeline=train_pipeline))
val_dataloader = dict(batch_size=1, dataset=dict(frame_offsets=frames))
test_dataloader = val_dataloader

max_epochs = 24
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=4e-4, weight_decay=0.01),
    paramwise_cfg=dict(custom_keys={'img_backbone': dict(lr_mult=0.5)}),
    clip_grad=dict(max_norm=35, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=1.0 / 3, by_epoch=False, begin=0,
         end=2000),
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=max_epochs,
         milestones=[20], gamma=0.1)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs,
                 val_interval=4)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1,
                                     max_keep_ckpts=3))
# 16 GPUs x 1 sample, as the released logs
auto_scale_lr = dict(enable=False, base_batch_size=16)
load_from = 'checkpoints/fcos_r50_coco_2mmdet.pth'
