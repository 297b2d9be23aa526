# RetinaNet R-50 FPN trained with the released searched PAP loss, on the
# official AP-Loss/aLRP 512 px protocol (100 epochs, 8 GPUs x 8 images).
# Official COCO val AP: 40.5 (Focal+GIoU 39.2, aLRP 39.0).
_base_ = [
    'mmdet::_base_/models/retinanet_r50_fpn.py',
    '../_base_/datasets/coco_detection_aploss-512.py',
    '../_base_/schedules/aploss_100e.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['projects.pap_loss'],
                      allow_failed_imports=False)

model = dict(
    bbox_head=dict(
        type='PAPRetinaHead',
        anchor_generator=dict(scales_per_octave=2),
        bbox_coder=dict(target_stds=[0.1, 0.1, 0.2, 0.2]),
        reg_weight=4.1231,  # reg_weight of params/retinanet.json
        reg_input='giou',
        loss_pap=dict(type='PAPLoss', num_topk=100000,
                      params_file='projects/pap_loss/params/retinanet.json')),
    test_cfg=dict(score_thr=0.05))
