# Baseline of the PAP paper: RetinaNet R-50 FPN with focal + GIoU losses on
# the same 512 px, 100-epoch protocol as the PAP config.
# Official COCO val AP: 39.2 (PAP: 40.5).
_base_ = [
    'mmdet::_base_/models/retinanet_r50_fpn.py',
    '../_base_/datasets/coco_detection_aploss-512.py',
    '../_base_/schedules/aploss_100e.py',
    'mmdet::_base_/default_runtime.py',
]

model = dict(
    bbox_head=dict(
        anchor_generator=dict(scales_per_octave=2),
        reg_decoded_bbox=True,
        loss_bbox=dict(_delete_=True, type='GIoULoss', loss_weight=2.0)),
    test_cfg=dict(score_thr=0.05))
