# The tiny synthetic-COCO RetinaNet trained with the released searched PAP
# loss instead of focal + L1 (CPU check of the full path; compare with
# ../retinanet/retinanet_r18_fpn_tiny_1xb4-300it_synthetic-coco.py).
_base_ = '../retinanet/retinanet_r18_fpn_tiny_1xb4-300it_synthetic-coco.py'
custom_imports = dict(imports=['projects.pap_loss'],
                      allow_failed_imports=False)

ctrl_points = [
    [0.4182, 0.0277, 0.4948, 0.2187, 0.6882, 0.2624, 0.802, 0.6688],
    [0.1279, 0.3696, 0.3056, 0.4708, 0.5198, 0.529, 0.6983, 0.6709],
    [0.0931, 0.0289, 0.3607, 0.5585, 0.4823, 0.7131, 0.6291, 0.8162],
    [0.4914, 0.1499, 0.5492, 0.1664, 0.6259, 0.3051, 0.7945, 0.6195],
    [0.413, 0.0798, 0.4356, 0.3571, 0.5361, 0.7063, 0.8097, 0.9083],
]
model = dict(
    bbox_head=dict(
        type='PAPRetinaHead',
        reg_weight=4.1231,
        loss_pap=dict(type='PAPLoss', ctrl_points=ctrl_points)))
