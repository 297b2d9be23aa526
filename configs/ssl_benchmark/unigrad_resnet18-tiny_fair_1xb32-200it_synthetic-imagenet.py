# UniGrad (projects.unigrad: gradient -u2m + lambda F u1, F the moving
# average of the momentum features' correlation; no predictor) in the tiny
# fair benchmark: backbone, projector, schedule, optimiser, views, momentum
# and kNN evaluation come from the shared base.
#
# lambda rescaled for the shared projector width D = proj_out: F is the
# correlation of unit vectors (trace 1), about I / D for spread features,
# so the push lambda F u1 has strength lambda / D; keeping lambda / D
# constant gives lambda = 100 * D / 2048 (the official 100 is for the
# 2048-d projector), 3.125 at D = 64.
_base_ = './_base_/fair_tiny_synthetic-imagenet.py'
custom_imports = dict(imports=['projects.ssl_eval', 'projects.unigrad'],
                      allow_failed_imports=False)

lambd = 100. * 64 / 2048  # D = proj_out of the base (a test checks)
model = dict(
    type='UniGrad',
    lambd=lambd,
    rho=0.99,
    base_momentum={{_base_.ema_momentum}})
