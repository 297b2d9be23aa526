# Search of the PAP loss parameters of Faster R-CNN R-50 FPN (RPN and RCNN
# heads) with the official proxy (search_configs/cfg_search_faster_rcnn.py):
# as the RetinaNet search (1 epoch at 512 px from ImageNet R-50, reward COCO
# box AP on 5000 held-out train2017 images), 82 parameters: 5 functions of
# the RPN head, 5 of the RCNN head, then the two box gradient scales.
# Deviation as for RetinaNet: one GPU per sample (8 images, lr 0.024 / 8)
# instead of 8 GPUs per sample.
_base_ = '../pap_loss/faster-rcnn_r50_fpn_pap-loss_8xb8-100e_coco.py'
custom_imports = dict(imports=['projects.pap_loss', 'projects.loss_search'],
                      allow_failed_imports=False)

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1, val_interval=2)
optim_wrapper = dict(optimizer=dict(lr=0.024 / 8))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
         end=500)
]
train_dataloader = dict(batch_size=8)

loss_search = dict(
    space=dict(type='PAPSpace', detector='Faster R-CNN R-50 FPN',
               heads=[dict(name='faster_rcnn_rpn', path='model.rpn_head'),
                      dict(name='faster_rcnn_rcnn',
                           path='model.roi_head.bbox_head')]),
    reward=dict(metric='coco/bbox_mAP', split='held_out',
                held_out=dict(num=5000, seed=0)),
    evaluator=dict(type='TrainProxy', workers='auto', threads=4),
    policy=dict(sigma=0.2, sigma_schedule='linear',
                clip_mode='sum_clipped_log_ratio', clip_eps=0.1, lr=0.01,
                update_steps=100, lr_schedule='warmup_linear',
                warmup_steps=30, keep_optimizer_state=False,
                baseline='mean'),
    num_rounds=40,
    samples_per_round=8,
    seed=42)
