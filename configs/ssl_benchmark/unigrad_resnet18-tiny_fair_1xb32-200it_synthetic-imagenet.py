# UniGrad (projects.unigrad: gradient -u2m + lambda F u1, F the moving
# average of the momentum features' correlation; no predictor) in the tiny
# fair benchmark: backbone, projector, schedule, optimiser, views, momentum
# and kNN evaluation come from the shared base.
_base_ = './_base_/fair_tiny_synthetic-imagenet.py'
custom_imports = dict(imports=['projects.ssl_eval', 'projects.unigrad'],
                      allow_failed_imports=False)

model = dict(
    type='UniGrad',
    lambd=100.,
    rho=0.99,
    base_momentum={{_base_.ema_momentum}})
