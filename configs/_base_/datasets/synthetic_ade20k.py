# Synthetic ADE20K (tools/dataset_converters/make_synthetic.py ade20k): mmseg's
# ade20k pipeline at 128 px crops. For real ADE20K set
# data_root='data/ade/ADEChallengeData2016', crop_size=(512, 512) and
# scale=(2048, 512).
_base_ = 'mmseg::_base_/datasets/ade20k.py'

data_root = 'data/synthetic_ade20k'
crop_size = (128, 128)
scale = (512, 128)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomResize', scale=scale, ratio_range=(0.5, 2.0),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=scale, keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
