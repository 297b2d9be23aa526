# Barlow Twins (mmpretrain `BarlowTwins`: cross-correlation of the two
# views' projections towards the identity; no predictor, no momentum
# encoder) in the tiny fair benchmark: backbone, projector, schedule,
# optimiser, views and kNN evaluation come from the shared base.
#
# lambda rescaled for the shared projector width D = proj_out: the
# off-diagonal term sums D (D - 1) squared correlations of about 1 / N
# each, the on-diagonal term D, so their balance is kept by keeping
# lambda * D constant: lambda = 0.0051 * 8192 / D (the official 0.0051 is
# for D = 8192), 0.6528 at D = 64.
_base_ = './_base_/fair_tiny_synthetic-imagenet.py'

lambd = 0.0051 * 8192 / 64  # D = proj_out of the base (a test checks)
model = dict(
    type='BarlowTwins',
    head=dict(type='LatentCrossCorrelationHead',
              in_channels={{_base_.proj_out}},
              loss=dict(type='CrossCorrelationLoss', lambd=lambd)))
