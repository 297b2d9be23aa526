# RetinaNet with a Magneto ViT-B backbone and the SimpleFPN neck (strides
# 4-64) on COCO, 1x schedule (12 epochs, 8 GPUs x 2 images, AdamW).
# Initialise the backbone from an ImageNet checkpoint
# (magneto-vit-base_8xb128-300e_in1k.py, or a torchscale checkpoint
# converted by tools/model_converters/magneto_to_visionplug.py) via
# init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone.').
# The paper reports no COCO detection results.
_base_ = '../_base_/plain_vit/retinanet_vit-base_simple-fpn_8xb2-1x_coco.py'
custom_imports = dict(
    imports=['projects.magneto', 'projects.simple_fpn'],
    allow_failed_imports=False)

embed_dims = 768
model = dict(
    backbone=dict(type='MagnetoViT', arch='base'),
    neck=dict(
        backbone_channel=embed_dims,
        in_channels=[embed_dims // 4, embed_dims // 2, embed_dims,
                     embed_dims]))
