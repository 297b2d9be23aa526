# Tiny transfer protocol on the synthetic datasets (CPU, about 1 min per run):
# the R-18 RetinaNet (synthetic COCO) and UPerNet (synthetic ADE20K) tiny
# configs, 60 iterations each, evaluated once by tools/test.py (pycocotools /
# mmseg IoUMetric) on the val splits. Every run gets the same seed, loader and checkpoint
# settings; the pre-trained weights go into model.backbone (prefix
# 'backbone.'). Example:
#   python tools/misc/init_checkpoint.py \
#       configs/retinanet/retinanet_r18_fpn_tiny_1xb4-300it_synthetic-coco.py \
#       work_dirs/r18_init.pth
#   python tools/benchmark_transfer.py configs/benchmark/tiny_synthetic.py \
#       --pretrained r18_init=work_dirs/r18_init.pth
description = 'R-18 transfer to synthetic COCO detection and ADE20K ' \
    'segmentation, 60 iterations each'
pretrained_prefix = 'backbone.'

# made with tools/dataset_converters/make_synthetic.py when missing
data = [
    dict(kind='coco', out='data/synthetic_coco', num_train=120, num_val=20),
    dict(kind='ade20k', out='data/synthetic_ade20k', num_train=120,
         num_val=20),
]

_iters = 60  # helper variables start with an underscore
# equalised settings (dotted keys as in --cfg-options), applied to every task
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
]
