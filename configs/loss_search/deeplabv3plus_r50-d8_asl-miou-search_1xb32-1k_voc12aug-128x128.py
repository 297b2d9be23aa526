# Search of the Auto Seg-Loss mIoU surrogate (h_AND, h_OR: 12 parameters)
# with the official proxy (fundamentalvision/Auto-Seg-Loss ASL_configs/
# search/miou_bezier_lr=0.2_eps=0.2.py, ASL_search/autoloss_ppo_bezier.py):
# 12 rounds x 32 samples (the first of each round is the policy mean, the
# baseline); each sample trains DeepLabV3+ R-50-D8 (BN) from ImageNet for
# 1000 iterations on 32 crops of 128 x 128 of VOC 2012 aug (SGD lr 0.02,
# heads x10, poly), with the loss on the decode (1.0) and auxiliary (0.4)
# heads, and is rewarded on a held-out part of the training set (500 VOC
# train images) at 128 px -- not on VOC val, which the official search used
# and which is reported later. Other metrics: the *_asl-<metric>-search_*
# configs next to this one.
#   python tools/search_loss.py configs/loss_search/<this> --work-dir ...
# (workers='auto': one proxy per GPU; the official search ran 4 per GPU:
#  set loss_search.evaluator.workers to 4 x the GPUs.)
_base_ = 'mmseg::deeplabv3plus/deeplabv3plus_r50-d8_4xb4-20k_voc12aug-512x512.py'  # noqa
custom_imports = dict(
    imports=['projects.auto_seg_loss', 'projects.loss_search'],
    allow_failed_imports=False)

target_metric = 'mIoU'
max_iters = 1000
crop_size = (128, 128)
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(norm_cfg=norm_cfg),
    decode_head=dict(norm_cfg=norm_cfg),
    auxiliary_head=dict(norm_cfg=norm_cfg))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(512, 128), ratio_range=(0.5, 2.0),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='Pad', size=crop_size),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(512, 128), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
dataset_type = 'PascalVOCDataset'
data_root = 'data/VOCdevkit/VOC2012'
train_dataloader = dict(
    batch_size=32,
    dataset=dict(type='ConcatDataset', datasets=[
        dict(type=dataset_type, data_root=data_root,
             data_prefix=dict(img_path='JPEGImages',
                              seg_map_path='SegmentationClass'),
             ann_file='ImageSets/Segmentation/train.txt',
             pipeline=train_pipeline),
        dict(type=dataset_type, data_root=data_root,
             data_prefix=dict(img_path='JPEGImages',
                              seg_map_path='SegmentationClassAug'),
             ann_file='ImageSets/Segmentation/aug.txt',
             pipeline=train_pipeline)]))
val_dataloader = dict(batch_size=8, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=0.0005),
    paramwise_cfg=dict(custom_keys={'head': dict(lr_mult=10.0)}))
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=max_iters,
         by_epoch=False)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=max_iters)
val_evaluator = [
    dict(type='IoUMetric', iou_metrics=['mIoU']),
    dict(type='FWIoUMetric'),
    dict(type='BIoUMetric', tol=5, drop_bg=True),
    dict(type='BF1Metric', tol=5, drop_bg=True),
]

loss_search = dict(
    space=dict(type='AutoSegLossSpace', target_metric=target_metric,
               heads=[dict(path='model.decode_head', loss_weight=1.0),
                      dict(path='model.auxiliary_head', loss_weight=0.4)]),
    reward=dict(metric='mIoU', split='held_out',
                held_out=dict(num=500, seed=0)),
    evaluator=dict(type='TrainProxy', workers='auto', threads=4),
    # the official ASL policy and update
    policy=dict(sigma=0.2, sigma_schedule='constant',
                clip_mode='per_dimension', clip_eps=0.2, lr=0.2,
                update_steps=60, lr_schedule='constant',
                keep_optimizer_state=True, baseline='mu'),
    num_rounds=12,
    samples_per_round=32,
    seed=0)
