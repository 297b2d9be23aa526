# MoCo v2 (mmpretrain `MoCo`: queue of negatives, InfoNCE T=0.2, key
# encoder as momentum copy) in the tiny fair benchmark: backbone,
# projector, schedule, optimiser, views and kNN evaluation come from the
# shared base. MoCo has no predictor, and mmpretrain's MoCo keeps its
# momentum constant at `ema_momentum` (no cosine schedule).
_base_ = './_base_/fair_tiny_synthetic-imagenet.py'

model = dict(
    type='MoCo',
    queue_len=256,  # 65536 on ImageNet; the tiny train split has 500 images
    feat_dim={{_base_.proj_out}},
    momentum={{_base_.ema_momentum}},
    head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'),
              temperature=0.2))
