# UPerNet with a Castling-ViT-S backbone and the SimpleFPN neck (strides
# 4-32) on ADE20K, 160k iterations at 512x512 (8 GPUs x 2 images, AdamW).
# Initialise the backbone from an ImageNet checkpoint of
# castling-vit-small_8xb128-300e_in1k.py via
# init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone.').
# The paper's segmentation models use a Mask2Former host (not released);
# no official number exists for this segmentor.
_base_ = '../_base_/plain_vit/upernet_vit-base_simple-fpn_8xb2-160k_ade20k-512x512.py'
custom_imports = dict(
    imports=['projects.castling_vit', 'projects.simple_fpn'],
    allow_failed_imports=False)

embed_dims = 384
model = dict(
    backbone=dict(type='CastlingViT', arch='small'),
    neck=dict(
        backbone_channel=embed_dims,
        in_channels=[embed_dims // 4, embed_dims // 2, embed_dims,
                     embed_dims]))
custom_hooks = [dict(type='CastlingMaskL1Hook', loss_weight=1e-3)]
