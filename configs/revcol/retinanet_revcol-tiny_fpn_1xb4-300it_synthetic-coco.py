# RetinaNet with a tiny RevCol (channels 16/32/64/128, 4 columns, reversible
# backward) trained from scratch on synthetic COCO (128 px) on CPU; same
# head, data and schedule as retinanet/retinanet_r18_fpn_tiny_1xb4-300it_
# synthetic-coco.py. Real-data counterpart:
# cascade-mask-rcnn_revcol-t_fpn_4conv1fc-giou_8xb2-amp-ms-crop-3x_coco.py.
_base_ = '../retinanet/retinanet_r18_fpn_tiny_1xb4-300it_synthetic-coco.py'
custom_imports = dict(imports=['projects.revcol'], allow_failed_imports=False)

channels = [16, 32, 64, 128]
model = dict(
    backbone=dict(
        _delete_=True,
        type='RevCol',
        arch=dict(channels=channels, layers=[1, 1, 1, 1], num_subnet=4),
        drop_path_rate=0.1,
        save_memory=True,
        out_indices=(0, 1, 2, 3)),
    neck=dict(in_channels=channels))
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'.alpha': dict(decay_mult=0.0)}))
