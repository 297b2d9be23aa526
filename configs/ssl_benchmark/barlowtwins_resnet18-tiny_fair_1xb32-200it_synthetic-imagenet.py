# Barlow Twins (mmpretrain `BarlowTwins`: cross-correlation of the two
# views' projections towards the identity; no predictor, no momentum
# encoder) in the tiny fair benchmark: backbone, projector, schedule,
# optimiser, views and kNN evaluation come from the shared base.
_base_ = './_base_/fair_tiny_synthetic-imagenet.py'

model = dict(
    type='BarlowTwins',
    head=dict(type='LatentCrossCorrelationHead',
              in_channels={{_base_.proj_out}},
              loss=dict(type='CrossCorrelationLoss', lambd=0.0051)))
