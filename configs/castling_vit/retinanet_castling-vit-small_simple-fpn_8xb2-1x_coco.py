# RetinaNet with a Castling-ViT-S backbone and the SimpleFPN neck (strides
# 4-64) on COCO, 1x schedule (12 epochs, 8 GPUs x 2 images, AdamW).
# Initialise the backbone from an ImageNet checkpoint of
# castling-vit-small_8xb128-300e_in1k.py via
# init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone.').
# The paper's COCO models use a PicoDet host (not released); no official
# number exists for this detector.
_base_ = '../_base_/plain_vit/retinanet_vit-base_simple-fpn_8xb2-1x_coco.py'
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
