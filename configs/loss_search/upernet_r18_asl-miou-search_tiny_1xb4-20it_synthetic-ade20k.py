# Tiny CPU search of the Auto Seg-Loss mIoU surrogate (12 parameters) of the
# synthetic-ADE20K UPerNet R-18 (128 px crops) with the official ASL policy
# (sigma 0.2, per-dimension clipping 0.2, Adam lr 0.2, the first sample of a
# round is the mean): 3 rounds x 4 proxy runs of 20 iterations, reward mIoU
# on 16 held-out synthetic training images. Two proxy runs in parallel, one
# thread each. Other metrics: the *_asl-<metric>-search_tiny_* configs.
_base_ = '../auto_seg_loss/upernet_r18_asl-miou_tiny_1xb4-200it_synthetic-ade20k.py'  # noqa
custom_imports = dict(
    imports=['projects.stack_compat', 'projects.auto_seg_loss',
             'projects.loss_search'],
    allow_failed_imports=False)

target_metric = 'mIoU'
max_iters = 20
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=5)
]
train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False)
val_dataloader = dict(batch_size=8, num_workers=0, persistent_workers=False)
test_dataloader = val_dataloader
default_hooks = dict(logger=dict(type='LoggerHook', interval=10))
log_level = 'WARNING'
val_evaluator = [
    dict(type='IoUMetric', iou_metrics=['mIoU']),
    dict(type='FWIoUMetric'),
    dict(type='BIoUMetric', tol=2),
    dict(type='BF1Metric', tol=2),
]

loss_search = dict(
    space=dict(type='AutoSegLossSpace', target_metric=target_metric,
               heads=[dict(path='model.decode_head', loss_weight=1.0),
                      dict(path='model.auxiliary_head', loss_weight=0.4)]),
    reward=dict(metric='mIoU', split='held_out',
                held_out=dict(num=16, seed=0)),
    evaluator=dict(type='TrainProxy', workers=2, threads=1, timeout=600),
    policy=dict(sigma=0.2, sigma_schedule='constant',
                clip_mode='per_dimension', clip_eps=0.2, lr=0.2,
                update_steps=60, lr_schedule='constant',
                keep_optimizer_state=True, baseline='mu'),
    num_rounds=3,
    samples_per_round=4,
    seed=0)
