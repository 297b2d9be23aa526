# Tiny transfer protocol on the synthetic datasets (CPU): one full-width
# ResNet-18 transferred to
#   coco_det    R-18 RetinaNet, synthetic COCO       60 it + pycocotools
#   ade20k_seg  R-18 UPerNet, synthetic ADE20K       60 it + mmseg IoUMetric
#   in1k_knn    frozen R-18, weighted kNN (k=20)     no training
#   in1k_linear frozen R-18 + linear head            60 it + Accuracy
#   nus_bev     BEVFormer v2 tiny with an R-18       60 it + nuscenes-devkit
# Every run gets the same seed, loader and checkpoint settings; the
# pre-trained weights go into the model's backbone (prefix 'backbone.').
# The ImageNet and BEV configs carry a 1/4-width R-18: the task settings
# widen it to the full R-18 of the detection / segmentation configs, so that
# one checkpoint fits every task. Example:
#   python tools/misc/init_checkpoint.py \
#       configs/retinanet/retinanet_r18_fpn_tiny_1xb4-300it_synthetic-coco.py \
#       work_dirs/r18_init.pth
#   python tools/benchmark_transfer.py configs/benchmark/tiny_synthetic.py \
#       --pretrained r18_init=work_dirs/r18_init.pth [--tasks in1k_knn ...]
description = 'R-18 transfer to synthetic COCO detection, ADE20K ' \
    'segmentation, ImageNet kNN and linear probe and nuScenes BEV ' \
    'detection, 60 iterations per trained task'
pretrained_prefix = 'backbone.'

# made with tools/dataset_converters/make_synthetic.py when missing
data = [
    dict(kind='coco', out='data/synthetic_coco', num_train=120, num_val=20),
    dict(kind='ade20k', out='data/synthetic_ade20k', num_train=120,
         num_val=20),
    dict(kind='imagenet', out='data/synthetic_imagenet', num_train=250,
         num_val=100, size=(64, 64), num_classes=5),
    # nuScenes counts scenes (4 key frames each); infos files included
    dict(kind='nuscenes', out='data/synthetic_nuscenes', num_train=8,
         num_val=2, size=(90, 160)),
]

_iters = 60  # helper variables start with an underscore
# equalised settings (dotted keys as in --cfg-options), applied to every task
# (the training keys are ignored by the evaluation-only kNN task)
settings = {
    'randomness.seed': 0,
    'train_cfg.max_iters': _iters,
    'train_dataloader.batch_size': 4,
    'train_dataloader.num_workers': 0,
    'train_dataloader.persistent_workers': False,
    'val_dataloader.num_workers': 0,
    'val_dataloader.persistent_workers': False,
    'test_dataloader.num_workers': 0,
    'test_dataloader.persistent_workers': False,
    'default_hooks.logger.interval': 10,
    'default_hooks.checkpoint.interval': _iters,
    'default_hooks.checkpoint.max_keep_ckpts': 1,
    'param_scheduler': [
        dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
             end=10),
        dict(type='CosineAnnealingLR', by_epoch=False, begin=0, end=_iters,
             eta_min=1e-5),
    ],
}

tasks = [
    dict(name='coco_det',
         config='configs/retinanet/'
         'retinanet_r18_fpn_tiny_1xb4-300it_synthetic-coco.py',
         metric='coco/bbox_mAP'),
    dict(name='ade20k_seg',
         config='configs/upernet/'
         'upernet_r18_tiny_1xb4-200it_synthetic-ade20k.py',
         metric='mIoU'),
    # evaluation only (KNNTestLoop): built with the pre-trained backbone,
    # never trained
    dict(name='in1k_knn',
         config='configs/benchmark/tasks/'
         'knn_resnet18_headless_tiny_synthetic-imagenet.py',
         metric='knn/top1',
         settings={'test_cfg.bank_dataloader.num_workers': 0}),
    dict(name='in1k_linear',
         config='configs/ssl_eval/'
         'resnet18-tiny_fair-pre_1xb32-linear-100it_synthetic-imagenet.py',
         metric='accuracy/top1',
         settings={'model.backbone.stem_channels': 64,
                   'model.backbone.base_channels': 64,
                   'model.head.in_channels': 512,
                   'train_dataloader.batch_size': 16}),
    dict(name='nus_bev',
         config='configs/bevformer_v2/'
         'bevformer-v2_r18_tiny_1xb2-600it_synthetic-nuscenes.py',
         metric='nuscenes/NDS',  # backbone_key: img_backbone (found)
         settings={'model.img_backbone.base_channels': 64,
                   'model.img_neck.in_channels': [128, 256, 512],
                   'train_dataloader.batch_size': 2}),
]
