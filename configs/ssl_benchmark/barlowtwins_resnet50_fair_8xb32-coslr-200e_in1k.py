# Barlow Twins (mmpretrain `BarlowTwins`: cross-correlation of the two
# views' projections towards the identity; no predictor, no momentum
# encoder) in the fair benchmark (ImageNet-1k, ResNet-50): backbone,
# projector, schedule, optimiser, views and kNN evaluation come from the
# shared base.
#
# Loss scale under the shared SGD: mmpretrain's loss is a SUM over the
# D x D cross-correlation matrix (O(D)), the other losses of the group are
# O(1) means, so with the common lr it takes a ~D-times larger step (the
# official recipe uses LARS, whose layer-wise step ignores the loss scale).
# Rule: loss_weight = 1 / D (D = proj_out), the loss becomes a per-dimension
# mean (`ScaledCrossCorrelationLoss`, projects/ssl_eval/barlow.py).
#
# lambda rescaled for the shared projector width D and global batch N (why:
# the tiny config next to this file): lambda * D / N constant,
# lambda = 0.0051 * (8192 / 2048) * N / D = 0.0204 * N / D (the official
# 0.0051 is for D = 8192, N = 2048), 0.0204 at N = 8 x 32 = 256, D = 256.
_base_ = './_base_/fair_resnet50_8xb32-200e_in1k.py'

lambd = 0.0204 * (8 * 32) / 256  # N = 8 GPUs x batch_size, D = proj_out
loss_weight = 1. / 256  # 1 / D (a test checks)
model = dict(
    type='BarlowTwins',
    head=dict(type='LatentCrossCorrelationHead',
              in_channels={{_base_.proj_out}},
              loss=dict(type='ScaledCrossCorrelationLoss', lambd=lambd,
                        loss_weight=loss_weight)))
