# What the tiny fair SSL benchmark's detection-transfer protocols share
# (configs/benchmark/transfer_*_fair-pre_retinanet-300it_synthetic-coco.py,
# one per backbone family): synthetic COCO at 128 px (240 train / 100 val
# images), 300 iterations of batch 4, no validation during training, one
# checkpoint, COCO box mAP by pycocotools. The protocols add their backbone
# and, where the downstream config's schedule is not 300 iterations long,
# its stretched schedule (their `settings` merge into these).
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
}
