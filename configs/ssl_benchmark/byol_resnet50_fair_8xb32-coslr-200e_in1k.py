# BYOL (mmpretrain `BYOL`: predictor on the online branch, cosine loss,
# momentum target with cosine schedule) in the fair benchmark (ImageNet-1k, ResNet-50):
# backbone, projector, predictor, schedule, optimiser, views, momentum and
# kNN evaluation come from the shared base.
_base_ = './_base_/fair_resnet50_8xb32-200e_in1k.py'

model = dict(
    type='BYOL',
    base_momentum={{_base_.ema_momentum}},
    head=dict(type='LatentPredictHead', predictor={{_base_.predictor}},
              loss=dict(type='CosineSimilarityLoss')))
