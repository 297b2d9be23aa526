# Weighted kNN of a frozen, backbone-only ResNet-18 (full width, as the
# R-18 of the tiny RetinaNet / UPerNet configs) on synthetic ImageNet
# (make_synthetic.py imagenet; 56 px centre crops of the 64 px images).
# No training: the transfer benchmark loads the pre-trained backbone through
# model.backbone.init_cfg and runs tools/test.py, whose KNNTestLoop extracts
# the bank (labelled train split, test pipeline) and the queries (val split)
# and whose KNNAccuracy (k=20, T=0.07) reports knn/top1 and knn/top5 (%).
# Alone: python tools/analysis_tools/knn_eval.py THIS_CONFIG CHECKPOINT
_base_ = [
    '../../_base_/datasets/synthetic_imagenet.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['projects.ssl_eval'],
                      allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNet', depth=18, out_indices=(3, ),
        norm_cfg=dict(type='BN'), frozen_stages=4, norm_eval=True,
        init_cfg=dict(type='Pretrained', checkpoint='', prefix='backbone.')),
    neck=None,
    head=None)

test_pipeline = {{_base_.test_pipeline}}
bank_dataloader = dict(
    batch_size=32, num_workers=2, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='ImageNet', data_root={{_base_.data_root}},
                 split='train', pipeline=test_pipeline))
test_dataloader = dict(
    batch_size=32, num_workers=2, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='ImageNet', data_root={{_base_.data_root}},
                 split='val', pipeline=test_pipeline))
test_cfg = dict(type='KNNTestLoop', bank_dataloader=bank_dataloader)
test_evaluator = dict(type='KNNAccuracy', k=20, temperature=0.07,
                      topk=(1, 5))
# evaluation only: no training, no validation loop
train_dataloader = None
val_dataloader = None
val_cfg = None
val_evaluator = None
randomness = dict(seed=0)
