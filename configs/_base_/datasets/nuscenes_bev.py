# nuScenes for BEVFormer v2 (the official v2 pipeline): 6 cameras, 1600x900
# cropped to rows 260..900, training heights 512..768 with flip and BEV
# augmentation, test height 640. Infos: tools/dataset_converters/
# create_nuscenes_infos.py --root data/nuscenes --version v1.0-trainval.
# frame_offsets: (0, ) for t1, (-1, 0) for t2, (-7, ..., 0) for t8.
custom_imports = dict(
    imports=['projects.bevformer_v2'], allow_failed_imports=False)

dataset_type = 'NuScenesBEVDataset'
data_root = 'data/nuscenes/'
class_names = [
    'barrier', 'bicycle', 'bus', 'car', 'construction_vehicle', 'motorcycle',
    'pedestrian', 'traffic_cone', 'trailer', 'truck'
]
cameras = [
    'CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_FRONT_LEFT', 'CAM_BACK',
    'CAM_BACK_LEFT', 'CAM_BACK_RIGHT'
]
frame_offsets = (-1, 0)
point_cloud_range = [-51.2, -51.2, -5.0, 51.2, 51.2, 3.0]
img_crop = (0, 260, 1600, 900)
train_heights = (512, 544, 576, 608, 640, 672, 704, 736, 768)
backend_args = None

train_pipeline = [
    dict(type='LoadMultiViewImages', backend_args=backend_args),
    dict(type='PhotoMetricDistortionMultiView'),
    dict(type='ObjectRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='ObjectNameFilter', classes=class_names),
    dict(type='CropResizeFlipImage', crop=img_crop, heights=train_heights,
         flip_prob=0.5),
    dict(type='PerspectiveAnnotations', min_points=3, min_visible=0.2),
    dict(type='GlobalRotScaleTrans', rot_range=(-0.3925, 0.3925),
         scale_ratio_range=(0.95, 1.05), flip_x_prob=0.5, flip_y_prob=0.5),
    dict(type='PackBEVInputs')
]
test_pipeline = [
    dict(type='LoadMultiViewImages', backend_args=backend_args),
    dict(type='CropResizeFlipImage', crop=img_crop, heights=(640, ),
         test_mode=True),
    dict(type='PackBEVInputs')
]
train_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
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
    num_workers=4,
    persistent_workers=True,
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
