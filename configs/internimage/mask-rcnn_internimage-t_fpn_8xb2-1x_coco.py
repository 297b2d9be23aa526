# Mask R-CNN with InternImage-T (ImageNet-1k pretrained) and FPN, the
# official recipe (detection/configs/coco/mask_rcnn_internimage_t_fpn_1x_
# coco.py): 12 epochs (steps 8/11), 8 GPUs x 2 images, 1333x800, AdamW lr
# 1e-4, weight decay 0.05, the official layer-wise decay constructor with
# rate 1.0 (no lr decay; no weight decay on norms, biases and 1-D
# parameters), drop path 0.2, layer scale 1.0.
# Official: 47.2 box AP / 42.5 mask AP, 49M params, 270G FLOPs.
# Pretrained weights: the official internimage_t_1k_224.pth converted with
# tools/model_converters/internimage_to_visionplug.py.
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['projects.internimage'],
                      allow_failed_imports=False)

checkpoint_file = 'checkpoints/internimage-t_in1k_visionplug.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='InternImage',
        arch='t',
        drop_path_rate=0.2,
        layer_scale=1.0,
        out_indices=(0, 1, 2, 3),
        init_cfg=dict(
            type='Pretrained', checkpoint=checkpoint_file,
            prefix='backbone.')),
    neck=dict(in_channels=[64, 128, 256, 512]))

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(_delete_=True, type='AdamW', lr=1e-4, weight_decay=0.05),
    constructor='InternImageLayerDecayOptimizerConstructor',
    paramwise_cfg=dict(
        layer_decay_rate=1.0, num_layers=30, depths=[4, 4, 18, 4]),
    clip_grad=None)
