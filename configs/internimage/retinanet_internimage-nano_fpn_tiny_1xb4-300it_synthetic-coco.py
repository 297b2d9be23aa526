# RetinaNet with InternImage-nano (a CPU test arch: 16/32/64/128 channels,
# depths 1/1/2/1) and FPN trained from scratch on synthetic COCO (128 px) on
# CPU: the end-to-end detection check of the backbone. Same heads, data and
# schedule as ../retinanet/retinanet_r18_fpn_tiny_1xb4-300it_synthetic-coco.py.
# Real-data counterpart: mask-rcnn_internimage-t_fpn_8xb2-1x_coco.py.
_base_ = '../retinanet/retinanet_r18_fpn_tiny_1xb4-300it_synthetic-coco.py'
custom_imports = dict(imports=['projects.internimage'],
                      allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='InternImage',
        arch='nano',
        out_indices=(0, 1, 2, 3)),
    neck=dict(in_channels=[16, 32, 64, 128]))
optim_wrapper = dict(paramwise_cfg=dict(flat_decay_mult=0.0))
