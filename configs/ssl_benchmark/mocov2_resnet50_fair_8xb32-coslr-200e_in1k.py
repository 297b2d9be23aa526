# MoCo v2 (mmpretrain `MoCo`: queue of negatives, InfoNCE T=0.2, key
# encoder as momentum copy) in the fair benchmark (ImageNet-1k,
# ResNet-50): backbone, projector, schedule, optimiser, views and kNN
# evaluation come from the shared base. MoCo has no predictor. Its key
# encoder follows the base's cosine momentum schedule (tau 0.99 -> 1):
# `MoCoCosineEMA` is mmpretrain's MoCo with CosineEMA instead of its
# constant-momentum EMA.
_base_ = './_base_/fair_resnet50_8xb32-200e_in1k.py'

model = dict(
    type='MoCoCosineEMA',
    queue_len=65536,
    feat_dim={{_base_.proj_out}},
    momentum={{_base_.ema_momentum}},
    head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'),
              temperature=0.2))
