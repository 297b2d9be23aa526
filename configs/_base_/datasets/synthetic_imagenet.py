# Synthetic ImageNet (tools/dataset_converters/make_synthetic.py imagenet):
# mmpretrain's imagenet_bs32 pipeline at 56 px crops. For real ImageNet set
# data_root='data/imagenet', crop=224 and edge=256.
_base_ = 'mmpretrain::_base_/datasets/imagenet_bs32.py'

data_root = 'data/synthetic_imagenet'
crop = 56
edge = 64
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=crop),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=edge, edge='short'),
    dict(type='CenterCrop', crop_size=crop),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
