# Mask R-CNN + FPN on Conformer-S/32 (CNN maps after blocks 4/8/11/12:
# strides 4-32, 256/512/1024/1024 channels), COCO 1x, as the official
# mmdetection fork (frozen stem, BN in eval mode).
# Official: 43.6 box AP (Faster R-CNN 1x: 43.1, updated 43.7).
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['projects.conformer'],
                      allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True, type='ConformerDense', arch='small', patch_size=32,
        out_indices=(4, 8, 11, 12), drop_path_rate=0.1, norm_eval=True,
        frozen_stages=1,
        # converted official weights (conformer_to_visionplug.py)
        init_cfg=dict(type='Pretrained', prefix='backbone.',
                      checkpoint='checkpoints/conformer-small-p32_in1k.pth')),
    neck=dict(in_channels=[256, 512, 1024, 1024]))

optim_wrapper = dict(
    _delete_=True, type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05),
    paramwise_cfg=dict(custom_keys={'cls_token': dict(decay_mult=0.)}))
