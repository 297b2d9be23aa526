# SimSiam (mmpretrain `SimSiam`: predictor + stop-gradient, no momentum
# encoder) in the tiny fair benchmark: backbone, projector, predictor,
# schedule, optimiser, views and kNN evaluation come from the shared base.
_base_ = './_base_/fair_tiny_synthetic-imagenet.py'

model = dict(
    type='SimSiam',
    head=dict(type='LatentPredictHead', predictor={{_base_.predictor}},
              loss=dict(type='CosineSimilarityLoss')))
