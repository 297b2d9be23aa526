# RetinaNet with a De-focus Mamba-Base backbone (ImageNet-1k weights) and the
# ViTDet SimpleFPN neck on COCO, 1x schedule. The paper reports DINO-4scale
# only (50.2 box AP, 12 epochs); this RetinaNet recipe is ours (not trained
# here). As in the official detection configs, tokens are scanned in 14x14
# windows (224 px tiles) and the step sizes / bandpass positions are rescaled
# for ~1024 px inputs (delta 4.57, rope 20.0); the backbone lr is x0.1.
# SimpleFPN gives strides 4..64, so the anchors use those strides with
# octave_base_scale 8: the same 32..512 px anchor sizes as RetinaNet-FPN.
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['projects.defocus', 'projects.simple_fpn'],
                      allow_failed_imports=False)

pretrained = None  # e.g. an official checkpoint converted with
# tools/model_converters/defocus_to_visionplug.py
model = dict(
    backbone=dict(
        _delete_=True,
        type='DefocusMamba',
        arch='base',
        patch_size=16,
        out_type='featmap',
        window_size=14,
        delta_scale_factor=4.57,
        rope_scale_factor=20.0,
        drop_path_rate=0.5,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained,
                      prefix='backbone.') if pretrained else None),
    neck=dict(
        _delete_=True,
        type='SimpleFPN',
        backbone_channel=768,
        in_channels=[192, 384, 768, 768],
        out_channels=256,
        num_outs=5,
        norm_cfg=dict(type='LN2d', requires_grad=True)),
    bbox_head=dict(
        anchor_generator=dict(octave_base_scale=8,
                              strides=[4, 8, 16, 32, 64])))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999),
                   weight_decay=0.05),
    clip_grad=dict(max_norm=35, norm_type=2),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        flat_decay_mult=0.0,
        custom_keys={'backbone': dict(lr_mult=0.1),
                     'backbone.cls_token': dict(lr_mult=0.1,
                                                decay_mult=0.0)}))
auto_scale_lr = dict(enable=False, base_batch_size=16)
