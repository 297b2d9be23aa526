# UPerNet with a Magneto ViT-B backbone and the SimpleFPN neck (strides
# 4-32) on ADE20K, 160k iterations at 512x512 (8 GPUs x 2 images, AdamW).
# Initialise the backbone from an ImageNet checkpoint via
# init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone.').
# The paper's ADE20K numbers use BEiT-pretrained ViT-B/L (see
# projects/magneto/README.md); they are not reproduced here.
_base_ = '../_base_/plain_vit/upernet_vit-base_simple-fpn_8xb2-160k_ade20k-512x512.py'
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
