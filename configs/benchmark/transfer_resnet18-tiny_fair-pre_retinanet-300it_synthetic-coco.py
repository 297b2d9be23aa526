# Transfer protocol (tools/benchmark_transfer.py) of the tiny fair SSL
# benchmark's ResNet + SGD group: the pre-trained ResNet-18 at 1/4 width
# (configs/ssl_benchmark/_base_/fair_tiny_synthetic-imagenet.py, widths
# 16-32-64-128) under RetinaNet with a 128-d FPN on synthetic COCO
# (128 px; 240 train / 100 val images), every layer fine-tuned
# (frozen_stages=-1, BN trained, as the fair benchmark's detection
# transfer), 300 iterations of batch 4 (the detection config's own AdamW
# schedule); COCO box mAP by pycocotools. Run with seeds:
#   python tools/benchmark_transfer.py \
#       configs/benchmark/transfer_resnet18-tiny_fair-pre_retinanet-300it_synthetic-coco.py \
#       --pretrained byol=work_dirs/ssl_benchmark/byol/seed0/iter_200.pth \
#       --seeds 0 1 2
description = 'fair-benchmark ResNet-18 (1/4 width) -> RetinaNet, ' \
    'synthetic COCO, 300 iterations'
pretrained_prefix = 'backbone.'

_root = 'data/synthetic_coco_transfer/'
data = [dict(kind='coco', out=_root, num_train=240, num_val=100)]

_iters = 300  # helper variables start with an underscore
settings = {
    'randomness.seed': 0,
    'train_cfg.max_iters': _iters,
    'train_cfg.val_interval': _iters,
    'train_dataloader.batch_size': 4,
    'train_dataloader.num_workers': 0,
    'train_dataloader.persistent_workers': False,
    'train_dataloader.dataset.data_root': _root,
    'val_dataloader.num_workers': 0,
    'val_dataloader.persistent_workers': False,
    'val_dataloader.dataset.data_root': _root,
    'test_dataloader.num_workers': 0,
    'test_dataloader.persistent_workers': False,
    'test_dataloader.dataset.data_root': _root,
    'val_evaluator.ann_file': _root + 'annotations/instances_val2017.json',
    'test_evaluator.ann_file': _root + 'annotations/instances_val2017.json',
    'default_hooks.logger.interval': 50,
    'default_hooks.checkpoint.interval': _iters,
    'default_hooks.checkpoint.max_keep_ckpts': 1,
    'model.backbone.stem_channels': 16,
    'model.backbone.base_channels': 16,
    'model.backbone.frozen_stages': -1,
    'model.backbone.norm_eval': False,
    'model.neck.in_channels': [16, 32, 64, 128],
}

tasks = [
    dict(name='coco_det',
         config='configs/retinanet/'
         'retinanet_r18_fpn_tiny_1xb4-300it_synthetic-coco.py',
         metric='coco/bbox_mAP'),
]
