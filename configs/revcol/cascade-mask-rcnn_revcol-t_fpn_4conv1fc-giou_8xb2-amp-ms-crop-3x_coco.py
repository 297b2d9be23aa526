# Cascade Mask R-CNN with RevCol-T (ImageNet-1k pretrained), the official
# detection recipe (Detection/configs/revcol/cascade_mask_rcnn_revcol_tiny_
# 3x_in1k.py): 4conv1fc box heads with GIoU, DETR-style multi-scale + crop
# augmentation, 36 epochs (steps 27/33), AdamW lr 2e-4, weight decay 0.05,
# layer-wise lr decay 0.85, drop path 0.3, fp16, plain backward
# (save_memory=False, as every official det/seg config).
# Official: 50.8 box AP / 44.0 mask AP, 88M params, 741 GFLOPs.
# The pretrained weights come from the official revcol_tiny_1k.pth through
# tools/model_converters/revcol_to_visionplug.py.
_base_ = 'mmdet::convnext/cascade-mask-rcnn_convnext-t-p4-w7_fpn_4conv1fc-giou_amp-ms-crop-3x_coco.py'  # noqa
custom_imports = dict(imports=['projects.revcol'], allow_failed_imports=False)

checkpoint_file = 'checkpoints/revcol-t_in1k_visionplug.pth'
channels = [64, 128, 256, 512]
model = dict(
    backbone=dict(
        _delete_=True,
        type='RevCol',
        arch='t',
        drop_path_rate=0.3,
        save_memory=False,
        out_indices=(0, 1, 2, 3),
        init_cfg=dict(
            type='Pretrained', checkpoint=checkpoint_file,
            prefix='backbone.')),
    neck=dict(in_channels=channels))

optim_wrapper = dict(
    constructor='RevColLayerDecayOptimizerConstructor',
    paramwise_cfg=dict(_delete_=True, decay_rate=0.85),
    optimizer=dict(lr=2e-4, weight_decay=0.05))
