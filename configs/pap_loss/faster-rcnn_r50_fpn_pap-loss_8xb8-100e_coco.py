# Faster R-CNN R-50 FPN trained with the released searched PAP losses (one
# for the RPN, one for the RCNN head), on the AP-Loss/aLRP 512 px protocol
# (100 epochs, 8 GPUs x 8 images, lr 0.024, steps at 75/95). No sampling:
# every anchor and all 1000 proposals per image enter the loss.
# Official COCO val AP: 42.0 (CE+L1 39.0, CE+GIoU 39.1, aLRP 40.7).
_base_ = [
    'mmdet::_base_/models/faster-rcnn_r50_fpn.py',
    '../_base_/datasets/coco_detection_aploss-512.py',
    '../_base_/schedules/aploss_100e.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['projects.pap_loss'],
                      allow_failed_imports=False)

model = dict(
    rpn_head=dict(
        type='PAPRPNHead',
        bbox_coder=dict(target_stds=[0.1, 0.1, 0.2, 0.2]),
        reg_weight=1.6950,  # reg_weight of params/faster_rcnn_rpn.json
        reg_input='giou',
        loss_cls=dict(use_sigmoid=True),
        loss_pap=dict(
            type='PAPLoss',
            params_file='projects/pap_loss/params/faster_rcnn_rpn.json')),
    roi_head=dict(
        bbox_head=dict(
            type='PAPShared2FCBBoxHead',
            reg_weight=7.1324,  # reg_weight of params/faster_rcnn_rcnn.json
            reg_input='giou',
            loss_pap=dict(
                type='PAPLoss',
                params_file='projects/pap_loss/params/faster_rcnn_rcnn.json'
            ))),
    train_cfg=dict(
        rpn=dict(sampler=dict(_delete_=True, type='PseudoSampler')),
        rcnn=dict(
            assigner=dict(pos_iou_thr=0.5, neg_iou_thr=0.5, min_pos_iou=0.5,
                          match_low_quality=False),
            sampler=dict(_delete_=True, type='PseudoSampler'))),
    test_cfg=dict(rcnn=dict(score_thr=0.05)))

optim_wrapper = dict(optimizer=dict(lr=0.024))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
         end=500),
    dict(type='MultiStepLR', begin=0, end=100, by_epoch=True,
         milestones=[75, 95], gamma=0.1)
]
