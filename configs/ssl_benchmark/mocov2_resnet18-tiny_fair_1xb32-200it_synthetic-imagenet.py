# MoCo v2 (mmpretrain `MoCo`: queue of negatives, InfoNCE T=0.2, key
# encoder as momentum copy) in the tiny fair benchmark: backbone,
# projector, schedule, optimiser, views and kNN evaluation come from the
# shared base. MoCo has no predictor. Its key encoder follows the base's
# cosine momentum schedule (tau 0.99 -> 1): `MoCoCosineEMA` is mmpretrain's
# MoCo with CosineEMA instead of its constant-momentum EMA.
_base_ = './_base_/fair_tiny_synthetic-imagenet.py'

model = dict(
    type='MoCoCosineEMA',
    queue_len=256,  # 65536 on ImageNet; the tiny train split has 600 images
    feat_dim={{_base_.proj_out}},
    momentum={{_base_.ema_momentum}},
    head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'),
              temperature=0.2))
