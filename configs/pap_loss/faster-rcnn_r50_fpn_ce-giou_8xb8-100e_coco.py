# Baseline of the PAP paper: Faster R-CNN R-50 FPN with cross-entropy + GIoU
# (RCNN GIoU weight 10) on the same 512 px, 100-epoch protocol (lr 0.04 as
# released). Official COCO val AP: 39.1 (PAP: 42.0).
_base_ = [
    'mmdet::_base_/models/faster-rcnn_r50_fpn.py',
    '../_base_/datasets/coco_detection_aploss-512.py',
    '../_base_/schedules/aploss_100e.py',
    'mmdet::_base_/default_runtime.py',
]

model = dict(
    roi_head=dict(
        bbox_head=dict(
            reg_decoded_bbox=True,
            loss_bbox=dict(_delete_=True, type='GIoULoss',
                           loss_weight=10.0))))

optim_wrapper = dict(optimizer=dict(lr=0.04))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
         end=500),
    dict(type='MultiStepLR', begin=0, end=100, by_epoch=True,
         milestones=[75, 95], gamma=0.1)
]
