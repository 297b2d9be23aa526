# RetinaNet with a two-layer Magneto ViT (64 channels, patch 16) and
# SimpleFPN trained from scratch on synthetic COCO (128 px) on CPU.
# Real-data counterpart: retinanet_magneto-vit-base_simple-fpn_8xb2-1x_coco.py.
_base_ = '../_base_/plain_vit/retinanet_vit_simple-fpn_tiny_1xb4-100it_synthetic-coco.py'
custom_imports = dict(
    imports=['projects.magneto', 'projects.simple_fpn'],
    allow_failed_imports=False)

model = dict(backbone=dict(type='MagnetoViT'))
