# Tiny CPU search of the PAP loss parameters (41: 5 functions x 8 + the box
# gradient scale) of the synthetic-COCO RetinaNet R-18: 3 rounds x 4 proxy
# runs of 20 iterations from scratch, reward COCO box AP@0.5 on 16 synthetic
# training images held out (never the val split). Two proxy runs in
# parallel, one thread each.
#   python tools/search_loss.py configs/loss_search/<this file> \
#       --work-dir work_dirs/loss_search/pap_retinanet_tiny
_base_ = '../pap_loss/retinanet_r18_fpn_pap-loss_tiny_1xb4-300it_synthetic-coco.py'  # noqa
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
    space=dict(type='PAPSpace', detector='RetinaNet R-18 FPN (tiny)',
               heads=[dict(name='retinanet', path='model.bbox_head')]),
    reward=dict(metric='coco/bbox_mAP_50', split='held_out',
                held_out=dict(num=16, seed=0)),
    evaluator=dict(type='TrainProxy', workers=2, threads=1, timeout=600),
    # the official PAP policy and update (tools/search.py)
    policy=dict(sigma=0.2, sigma_schedule='linear',
                clip_mode='sum_clipped_log_ratio', clip_eps=0.1, lr=0.01,
                update_steps=100, lr_schedule='warmup_linear',
                warmup_steps=30, keep_optimizer_state=False,
                baseline='mean'),
    num_rounds=3,
    samples_per_round=4,
    seed=0)
