# BEVFormer v2 R-50 t1: single frame with image augmentation (heights
# 512..768, flip folded into the intrinsics), BEV augmentation (rotation,
# scale, flips) and 11 Group-DETR query groups. Official
# bevformerv2-r50-t1-24ep: NDS 0.4529 / mAP 0.3805 on nuScenes val, 37579M.
_base_ = './bevformer-v2_r50_t1-base_16xb1-24e_nuscenes.py'

point_cloud_range = [-51.2, -51.2, -5.0, 51.2, 51.2, 3.0]
group_detr = 11
model = dict(
    pts_bbox_head=dict(
        group_detr=group_detr,
        transformer=dict(decoder=dict(group=group_detr))))

train_pipeline = [
    dict(type='LoadMultiViewImages'),
    dict(type='PhotoMetricDistortionMultiView'),
    dict(type='ObjectRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='ObjectNameFilter', classes={{_base_.class_names}}),
    dict(type='CropResizeFlipImage', crop=(0, 260, 1600, 900),
         heights=(512, 544, 576, 608, 640, 672, 704, 736, 768),
         flip_prob=0.5),
    dict(type='PerspectiveAnnotations', min_points=3, min_visible=0.2),
    dict(type='GlobalRotScaleTrans', rot_range=(-0.3925, 0.3925),
         scale_ratio_range=(0.95, 1.05), flip_x_prob=0.5, flip_y_prob=0.5),
    dict(type='PackBEVInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
