# Weighted kNN (k=20, T=0.07: the mmselfsup / DINO protocol) of a frozen,
# backbone-only ResNet-50 on ImageNet-1k: bank = the 1.28 M labelled train
# images, queries = the 50 k val images, both resized to 256 (short edge)
# and centre-cropped to 224; metrics knn/top1, knn/top5 (%). No training:
# the pre-trained backbone comes through model.backbone.init_cfg (prefix
# 'backbone.'), e.g. from the transfer benchmark:
#   python tools/benchmark_transfer.py configs/benchmark/resnet50_coco-ade20k-in1k.py \
#       --pretrained mocov2=work_dirs/mocov2/epoch_200.pth --tasks in1k_knn \
#       --launcher torchrun --gpus 8
# or alone: python tools/analysis_tools/knn_eval.py THIS_CONFIG CHECKPOINT
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs32.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['projects.ssl_eval'],
                      allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNet', depth=50, out_indices=(3, ), frozen_stages=4,
        norm_eval=True,
        init_cfg=dict(type='Pretrained', checkpoint='', prefix='backbone.')),
    neck=None,
    head=None)

data_root = 'data/imagenet'
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='short'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
bank_dataloader = dict(
    batch_size=256, num_workers=8, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='ImageNet', data_root=data_root, split='train',
                 pipeline=test_pipeline))
test_dataloader = dict(
    batch_size=256, num_workers=8, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='ImageNet', data_root=data_root, split='val',
                 pipeline=test_pipeline))
test_cfg = dict(type='KNNTestLoop', bank_dataloader=bank_dataloader)
# 50 k queries x 1.28 M bank features, compared in chunks on the GPU
test_evaluator = dict(type='KNNAccuracy', k=20, temperature=0.07,
                      topk=(1, 5), device='cuda')
train_dataloader = None
val_dataloader = None
val_cfg = None
val_evaluator = None
randomness = dict(seed=0)
