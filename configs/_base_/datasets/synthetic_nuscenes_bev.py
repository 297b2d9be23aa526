# Synthetic nuScenes (tools/dataset_converters/make_synthetic.py nuscenes
# --size 90 160): 2 cameras, frames (-1, 0), the official pipeline of
# nuscenes_bev.py at 1/10 scale (crop rows 26..90 of 90x160 = the real
# (0, 260, 1600, 900) crop, 64x160 images), loaders in the main process.
_base_ = './nuscenes_bev.py'

data_root = 'data/synthetic_nuscenes/'
cameras = ['CAM_FRONT', 'CAM_BACK']
img_crop = (0, 26, 160, 90)
train_heights = (64, )

train_pipeline = [
    dict(type='LoadMultiViewImages', backend_args={{_base_.backend_args}}),
    dict(type='PhotoMetricDistortionMultiView'),
    dict(type='ObjectRangeFilter',
         point_cloud_range={{_base_.point_cloud_range}}),
    dict(type='ObjectNameFilter', classes={{_base_.class_names}}),
    dict(type='CropResizeFlipImage', crop=img_crop, heights=train_heights,
         flip_prob=0.5),
    dict(type='PerspectiveAnnotations'),
    dict(type='GlobalRotScaleTrans', rot_range=(-0.3925, 0.3925),
         scale_ratio_range=(0.95, 1.05), flip_x_prob=0.5, flip_y_prob=0.5),
    dict(type='PackBEVInputs')
]
test_pipeline = [
    dict(type='LoadMultiViewImages', backend_args={{_base_.backend_args}}),
    dict(type='CropResizeFlipImage', crop=img_crop, heights=train_heights,
         test_mode=True),
    dict(type='PackBEVInputs')
]
train_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, cameras=cameras,
                 pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, cameras=cameras,
                 pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(data_root=data_root,
                     ann_file=data_root + 'nuscenes_infos_val.json')
test_evaluator = val_evaluator
