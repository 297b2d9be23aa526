# Barlow Twins (mmpretrain `BarlowTwins`: cross-correlation of the two
# views' projections towards the identity; no predictor, no momentum
# encoder) in the fair benchmark (ImageNet-1k, ResNet-50): backbone, projector, schedule,
# optimiser, views and kNN evaluation come from the shared base.
_base_ = './_base_/fair_resnet50_8xb32-200e_in1k.py'

model = dict(
    type='BarlowTwins',
    head=dict(type='LatentCrossCorrelationHead',
              in_channels={{_base_.proj_out}},
              loss=dict(type='CrossCorrelationLoss', lambd=0.0051)))
