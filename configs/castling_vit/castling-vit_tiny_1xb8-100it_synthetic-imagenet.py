# A two-layer Castling-ViT (64 channels, patch 8) trained from scratch on
# synthetic ImageNet (56 px crops) on CPU, with the L1 mask term. Real-data
# counterpart: castling-vit-small_8xb128-300e_in1k.py.
_base_ = '../_base_/plain_vit/vit_tiny_1xb8-100it_synthetic-imagenet.py'
custom_imports = dict(
    imports=['projects.castling_vit'],
    allow_failed_imports=False)

model = dict(backbone=dict(type='CastlingViT'))
custom_hooks = [dict(type='CastlingMaskL1Hook', loss_weight=1e-2)]
