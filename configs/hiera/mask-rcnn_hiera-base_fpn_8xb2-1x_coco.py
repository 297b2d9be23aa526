# Mask R-CNN with a Hiera-B backbone (strides 4-32 -> FPN), COCO 1x.
# Hiera releases no detection code or COCO number for Hiera-B (the paper
# uses ViTDet's recipe; see projects/hiera/README.md). Inputs of any size
# work (position embedding resampled from 224); the data preprocessor pads
# to multiples of 32 as Hiera requires.
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['projects.hiera'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True, type='HieraDense', arch='base', img_size=224,
        out_indices=(0, 1, 2, 3), drop_path_rate=0.2,
        # converted official weights (hiera_to_visionplug.py --backbone-only)
        init_cfg=dict(type='Pretrained', prefix='backbone.',
                      checkpoint='checkpoints/hiera-base_in1k.pth')),
    neck=dict(in_channels=[96, 192, 384, 768]))

optim_wrapper = dict(
    _delete_=True, type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999),
                   weight_decay=0.05),
    paramwise_cfg=dict(custom_keys={'pos_embed': dict(decay_mult=0.)}))
