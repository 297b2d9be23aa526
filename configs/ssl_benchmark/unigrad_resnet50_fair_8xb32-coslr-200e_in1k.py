# UniGrad (projects.unigrad: gradient -u2m + lambda F u1, F the moving
# average of the momentum features' correlation; no predictor) in the fair
# benchmark (ImageNet-1k, ResNet-50): backbone, projector, schedule,
# optimiser, views, momentum and kNN evaluation come from the shared base.
#
# lambda rescaled for the shared projector width D = proj_out (rule in
# projects/ssl_eval/README.md): lambda / D constant, lambda = 100 * D /
# 2048 (the official 100 is for the 2048-d projector), 12.5 at D = 256.
_base_ = './_base_/fair_resnet50_8xb32-200e_in1k.py'
custom_imports = dict(imports=['projects.ssl_eval', 'projects.unigrad'],
                      allow_failed_imports=False)

lambd = 100. * 256 / 2048  # D = proj_out of the base (a test checks)
model = dict(
    type='UniGrad',
    lambd=lambd,
    rho=0.99,
    base_momentum={{_base_.ema_momentum}})
