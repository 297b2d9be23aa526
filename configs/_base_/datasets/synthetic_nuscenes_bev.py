# Synthetic nuScenes (tools/dataset_converters/make_synthetic.py nuscenes
# --size 90 160): 2 cameras, frames (-1, 0), the official pipeline at 1/10
# scale (crop rows 26..90 of 90x160 = the real (0, 260, 1600, 900) crop, 64x160
# images). For real data use nuscenes_bev.py.
custom_imports = dict(
    imports=['projects.bevformer_v2'], allow_failed_imports=False)

dataset_type = 'NuScenesBEVDataset'
data_root = 'data/synthetic_nuscenes/'
class_names = [
    'barrier', 'bicycle', 'bus', 'car', 'construction_vehicle', 'motorcycle',
    'pedestrian', 'traffic_cone', 'trailer', 'truck'
]
cameras = ['CAM_FRONT', 'CAM_BACK']
frame_offsets = (-1, 0)
point_cloud_range = [-51.2, -51.2, -5.0, 51.2, 51.2, 3.0]
img_crop = (0, 26, 160, 90)
backend_args = None

train_pipeline = [
    dict(type='LoadMultiViewImages', backend_args=backend_args),
    dict(type='PhotoMetricDistortionMultiView'),
    dict(type='ObjectRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='ObjectNameFilter', classes=class_names),
    dict(type='CropResizeFlipImage', crop=img_crop, heights=(64, ),
         flip_prob=0.5),
    dict(type='PerspectiveAnnotations'),
    dict(type='GlobalRotScaleTrans', rot_range=(-0.3925, 0.3925),
         scale_ratio_range=(0.95, 1.05), flip_x_prob=0.5, flip_y_prob=0.5),
    dict(type='PackBEVInputs')
]
test_pipeline = [
    dict(type='LoadMultiViewImages', backend_args=backend_args),
    dict(type='CropResizeFlipImage', crop=img_crop, heights=(64, ),
         test_mode=True),
    dict(type='PackBEVInputs')
]
train_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='nuscenes_infos_train.json',
        cameras=cameras,
        frame_offsets=frame_offsets,
        filter_empty_gt=True,
        pipeline=train_pipeline,
        test_mode=False))
val_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='nuscenes_infos_val.json',
        cameras=cameras,
        frame_offsets=frame_offsets,
        pipeline=test_pipeline,
        test_mode=True))
test_dataloader = val_dataloader

val_evaluator = dict(
    type='NuScenesMetric',
    data_root=data_root,
    ann_file=data_root + 'nuscenes_infos_val.json')
test_evaluator = val_evaluator
