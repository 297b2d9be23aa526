# RetinaNet with a Castling-ViT-S backbone and the SimpleFPN neck (strides
# 4-64) on COCO, 1x schedule (12 epochs, 8 GPUs x 2 images, AdamW).
# Initialise the backbone from an ImageNet checkpoint of
# castling-vit-small_8xb128-300e_in1k.py via
# init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone.').
# The paper's COCO models use a PicoDet host (not released); no official
# number exists for this detector.
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'
custom_imports = dict(
    imports=['projects.castling_vit', 'projects.simple_fpn'],
    allow_failed_imports=False)

embed_dims = 384
model = dict(
    backbone=dict(
        _delete_=True,
        type='CastlingViT',
        arch='small',
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
custom_hooks = [dict(type='CastlingMaskL1Hook', loss_weight=1e-3)]
