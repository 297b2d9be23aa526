# SimSiam (mmpretrain `SimSiam`: predictor + stop-gradient, no momentum
# encoder) in the fair benchmark (ImageNet-1k, ResNet-50): backbone, projector, predictor,
# schedule, optimiser, views and kNN evaluation come from the shared base.
_base_ = './_base_/fair_resnet50_8xb32-200e_in1k.py'

model = dict(
    type='SimSiam',
    head=dict(type='LatentPredictHead', predictor={{_base_.predictor}},
              loss=dict(type='CosineSimilarityLoss')))
