# Barlow Twins (mmpretrain `BarlowTwins`: cross-correlation of the two
# views' projections towards the identity; no predictor, no momentum
# encoder) in the fair benchmark (ImageNet-1k, ResNet-50): backbone,
# projector, schedule, optimiser, views and kNN evaluation come from the
# shared base.
#
# lambda rescaled for the shared projector width D = proj_out (rule in
# projects/ssl_eval/README.md): lambda * D constant, lambda = 0.0051 *
# 8192 / D (the official 0.0051 is for D = 8192), 0.1632 at D = 256.
_base_ = './_base_/fair_resnet50_8xb32-200e_in1k.py'

lambd = 0.0051 * 8192 / 256  # D = proj_out of the base (a test checks)
model = dict(
    type='BarlowTwins',
    head=dict(type='LatentCrossCorrelationHead',
              in_channels={{_base_.proj_out}},
              loss=dict(type='CrossCorrelationLoss', lambd=lambd)))
