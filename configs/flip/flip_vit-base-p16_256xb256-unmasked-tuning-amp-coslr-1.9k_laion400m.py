# FLIP "unmasked tuning" (official README): continue from the masked
# pre-training with mask_ratio 0, lr 4e-8 x 65536 / 256, 100 virtual epochs
# (1900 iterations) with 20 warm-up epochs (380 iterations); everything
# else as the pre-training config. Set load_from to its last checkpoint.
_base_ = ['./flip_vit-base-p16_256xb256-mask50-amp-coslr-190k_laion400m.py']

model = dict(mask_ratio=0.)
load_from = ('work_dirs/flip_vit-base-p16_256xb256-mask50-amp-coslr-190k_'
             'laion400m/iter_190000.pth')

lr = 4e-8 * 65536 / 256
max_iters = 19 * 100
warmup_iters = 19 * 20
optim_wrapper = dict(optimizer=dict(lr=lr))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0,
         end=warmup_iters),
    dict(type='CosineAnnealingLR', T_max=max_iters - warmup_iters,
         eta_min=0., by_epoch=False, begin=warmup_iters, end=max_iters),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(interval=max_iters))
