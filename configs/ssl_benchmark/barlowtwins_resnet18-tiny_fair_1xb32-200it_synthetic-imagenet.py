# Barlow Twins (mmpretrain `BarlowTwins`: cross-correlation of the two
# views' projections towards the identity; no predictor, no momentum
# encoder) in the tiny fair benchmark: backbone, projector, schedule,
# optimiser, views and kNN evaluation come from the shared base.
#
# Loss scale under the shared SGD: mmpretrain's loss is a SUM over the
# D x D cross-correlation matrix (O(D)), the other losses of the group are
# O(1) means, so with the common lr it takes a ~D-times larger step (the
# official recipe uses LARS, whose layer-wise step ignores the loss scale).
# Rule: loss_weight = 1 / D (D = proj_out), the loss becomes a per-dimension
# mean (`ScaledCrossCorrelationLoss`, projects/ssl_eval/barlow.py).
#
# lambda rescaled for the shared projector width D and global batch N: the
# off-diagonal entries of the batch cross-correlation of uncorrelated
# BN-normalised features have variance ~1 / N, so the off-diagonal term is
# ~ lambda * D^2 / N against the on-diagonal ~ D; the official balance
# (0.0051 at D = 8192, N = 2048) is kept by keeping lambda * D / N constant:
# lambda = 0.0051 * (8192 / 2048) * N / D = 0.0204 * N / D,
# 0.0102 at N = 32 (1 x 32), D = 64.
_base_ = './_base_/fair_tiny_synthetic-imagenet.py'

lambd = 0.0204 * 32 / 64  # N = batch_size, D = proj_out of the base (tested)
loss_weight = 1. / 64  # 1 / D (a test checks)
model = dict(
    type='BarlowTwins',
    head=dict(type='LatentCrossCorrelationHead',
              in_channels={{_base_.proj_out}},
              loss=dict(type='ScaledCrossCorrelationLoss', lambd=lambd,
                        loss_weight=loss_weight)))
