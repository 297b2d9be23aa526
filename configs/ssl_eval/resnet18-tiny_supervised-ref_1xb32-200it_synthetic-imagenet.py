# Supervised reference for the tiny fair SSL benchmark: the group's
# ResNet-18 at 1/4 width trained WITH the labels of the SSL patterns set
# under the same schedule, batch, optimiser and (single-view) augmentation
# as the ResNet + SGD group, then evaluated like the SSL backbones (kNN and
# linear probe on frozen features). It bounds what 200 iterations can
# teach this backbone about the classes.
_base_ = '../ssl_benchmark/_base_/fair_tiny_synthetic-imagenet.py'

train_pipeline = [
    dict(type='LoadImageFromFile'),
    # one of the group's views
    dict(type='RandomApply', transforms={{_base_.view_pipeline}}, prob=1.),
    dict(type='PackInputs'),
]
cls_preprocessor = dict(
    type='ClsDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)
data_preprocessor = cls_preprocessor
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
model = dict(
    _delete_=True,
    type='ImageClassifier',
    data_preprocessor=cls_preprocessor,
    backbone={{_base_.backbone}},
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=10,
              in_channels={{_base_.feat_channels}},
              loss=dict(type='CrossEntropyLoss')))
