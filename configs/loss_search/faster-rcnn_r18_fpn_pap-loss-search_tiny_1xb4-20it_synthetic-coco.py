# Tiny CPU search of the PAP loss parameters of the synthetic-COCO Faster
# R-CNN R-18 (82: 5 functions of the RPN head, 5 of the RCNN head, the two
# box gradient scales): 2 rounds x 4 proxy runs of 20 iterations, reward
# COCO box AP on 16 held-out synthetic training images. Two proxy runs in
# parallel, one thread each.
_base_ = '../pap_loss/faster-rcnn_r18_fpn_pap-loss_tiny_1xb4-300it_synthetic-coco.py'  # noqa
custom_imports = dict(imports=['projects.pap_loss', 'projects.loss_search'],
                      allow_failed_imports=False)

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

loss_search = dict(
    space=dict(type='PAPSpace', detector='Faster R-CNN R-18 FPN (tiny)',
               heads=[dict(name='faster_rcnn_rpn', path='model.rpn_head'),
                      dict(name='faster_rcnn_rcnn',
                           path='model.roi_head.bbox_head')]),
    reward=dict(metric='coco/bbox_mAP_50', split='held_out',
                held_out=dict(num=16, seed=0)),
    evaluator=dict(type='TrainProxy', workers=2, threads=1, timeout=600),
    policy=dict(sigma=0.2, sigma_schedule='linear',
                clip_mode='sum_clipped_log_ratio', clip_eps=0.1, lr=0.01,
                update_steps=100, lr_schedule='warmup_linear',
                warmup_steps=30, keep_optimizer_state=False,
                baseline='mean'),
    num_rounds=2,
    samples_per_round=4,
    seed=0)
