# RetinaNet with a plain ViT-B backbone and the SimpleFPN neck (strides
# 4-64) on COCO, 1x schedule (12 epochs, 8 GPUs x 2 images, AdamW). Shared
# by the plain-ViT backbones: they swap model.backbone.type / arch, set
# embed_dims and the neck's backbone_channel / in_channels.
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['projects.simple_fpn'],
                      allow_failed_imports=False)

embed_dims = 768
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmpretrain.VisionTransformer',
        arch='base',
        img_size=224,
        patch_size=16,
        drop_path_rate=0.1,
        out_type='featmap',
        init_cfg=None),
    neck=dict(
        _delete_=True,
        type='SimpleFPN',
        backbone_channel=embed_dims,
        in_channels=[embed_dims // 4, embed_dims // 2, embed_dims, embed_dims],
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
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        flat_decay_mult=0.0,
        custom_keys={
            '.cls_token': dict(decay_mult=0.0),
            '.pos_embed': dict(decay_mult=0.0)
        }),
    clip_grad=dict(max_norm=10, norm_type=2))
