# BEVFormer v2, tiny, on synthetic nuScenes (2 cameras, 64x160 images): the
# same structure as the R-50 configs at toy sizes (ResNet-18 at 1/4 width,
# FPN 32 x 3 levels, 20x20 BEV, 1 encoder + 1 decoder layer, 30 queries x 2
# Group-DETR groups, frames (-1, 0) with a 1-block fusion, hybrid queries
# from the perspective head). Trains and evaluates with the real
# nuscenes-devkit DetectionEval on CPU in a few minutes:
#   python tools/dataset_converters/make_synthetic.py nuscenes \
#       --out data/synthetic_nuscenes --num-train 8 --num-val 1 --size 90 160
#   python tools/train.py \
#       configs/bevformer_v2/bevformer-v2_r18_tiny_1xb2-600it_synthetic-nuscenes.py
# Synthetic val NDS 0.055 / mAP 0.034 after 600 iterations (untrained:
# 0.003 / 0.003), about 3 CPU-minutes.
_base_ = [
    '../_base_/datasets/synthetic_nuscenes_bev.py',
    '../_base_/schedules/tiny_adamw_300it.py'
]
custom_imports = dict(imports=['projects.bevformer_v2'],
                      allow_failed_imports=False)

# the synthetic objects lie within 25 m of the ego path: a 64 m BEV square
# (3.2 m cells) instead of the real 102.4 m one; no image flip and no BEV
# augmentation (600 iterations are too few to profit from them)
point_cloud_range = [-32.0, -32.0, -5.0, 32.0, 32.0, 3.0]
frames = (-1, 0)
embed_dims = 32
group_detr = 2

model = dict(
    type='BEVFormerV2',
    frames=frames,
    num_levels=2,
    num_mono_levels=3,
    use_grid_mask=False,
    use_hybrid_queries=True,
    data_preprocessor=dict(
        type='BEVDataPreprocessor',
        mean=[103.53, 116.28, 123.675],
        std=[57.375, 57.12, 58.395],
        bgr_to_rgb=False,
        pad_size_divisor=32),
    img_backbone=dict(
        type='ResNet',
        depth=18,
        base_channels=16,
        out_indices=(1, 2, 3),
        norm_cfg=dict(type='BN'),
        norm_eval=False,
        init_cfg=None),
    img_neck=dict(
        type='FPN',
        in_channels=[32, 64, 128],
        out_channels=embed_dims,
        start_level=0,
        add_extra_convs='on_output',
        num_outs=3,
        relu_before_extra_convs=True),
    pts_bbox_head=dict(
        type='BEVFormerHead',
        bev_h=20,
        bev_w=20,
        num_query=30,
        group_detr=group_detr,
        num_classes=10,
        embed_dims=embed_dims,
        pc_range=point_cloud_range,
        num_proposals=10,
        positional_encoding=dict(
            type='LearnedPositionalEncoding', num_feats=embed_dims // 2),
        transformer=dict(
            type='PerceptionTransformerV2',
            num_feature_levels=2,
            num_cams=2,
            frames=frames,
            num_fusion=1,
            encoder=dict(
                num_layers=1,
                pc_range=point_cloud_range,
                num_points_in_pillar=4,
                feedforward_channels=64,
                tsa_cfg=dict(num_heads=4),
                sca_cfg=dict(deformable_attention=dict(
                    num_heads=4, num_levels=2, num_points=4))),
            decoder=dict(
                num_layers=1,
                num_heads=4,
                feedforward_channels=64,
                group=group_detr,
                cross_attn_cfg=dict(num_heads=4))),
        bbox_coder=dict(
            type='NMSFreeCoder',
            post_center_range=[-42.0, -42.0, -10.0, 42.0, 42.0, 10.0],
            max_num=100)),
    fcos3d_bbox_head=dict(
        type='NuscenesDD3D',
        num_classes=10,
        in_channels=embed_dims,
        strides=(8, 16, 32),
        num_convs=1,
        sizes_of_interest=((-1, 24), (24, 48), (48, 1e8)),
        test_cfg=dict(score_thr=0.05, pre_nms_topk=200, nms_iou=0.75,
                      max_per_img=20)))

train_pipeline = [
    dict(type='LoadMultiViewImages'),
    dict(type='PhotoMetricDistortionMultiView'),
    dict(type='ObjectRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='ObjectNameFilter', classes={{_base_.class_names}}),
    dict(type='CropResizeFlipImage', crop={{_base_.img_crop}}, heights=(64, ),
         flip_prob=0.0),
    dict(type='PerspectiveAnnotations'),
    dict(type='PackBEVInputs')
]
train_dataloader = dict(batch_size=2, dataset=dict(pipeline=train_pipeline))
max_iters = 600
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=30),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=0, end=max_iters,
         eta_min=1e-5)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=max_iters)
optim_wrapper = dict(
    optimizer=dict(lr=2e-3, weight_decay=0.01),
    paramwise_cfg=dict(custom_keys={'img_backbone': dict(lr_mult=0.5)}),
    clip_grad=dict(max_norm=35, norm_type=2))
default_hooks = dict(checkpoint=dict(interval=-1, save_last=True))
