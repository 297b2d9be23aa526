# RetinaNet with a two-layer Castling-ViT (64 channels, patch 16) and
# SimpleFPN trained from scratch on synthetic COCO (128 px) on CPU, with the
# L1 mask term. Real-data counterpart:
# retinanet_castling-vit-small_simple-fpn_8xb2-1x_coco.py.
_base_ = '../_base_/plain_vit/retinanet_vit_simple-fpn_tiny_1xb4-100it_synthetic-coco.py'
custom_imports = dict(
    imports=['projects.castling_vit', 'projects.simple_fpn'],
    allow_failed_imports=False)

model = dict(backbone=dict(type='CastlingViT'))
custom_hooks = [dict(type='CastlingMaskL1Hook', loss_weight=1e-2)]
