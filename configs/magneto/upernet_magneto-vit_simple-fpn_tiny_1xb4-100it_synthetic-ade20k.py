# UPerNet with a two-layer Magneto ViT (64 channels, patch 16) and
# SimpleFPN trained from scratch on synthetic ADE20K (128 px crops) on CPU.
# Real-data counterpart:
# upernet_magneto-vit-base_simple-fpn_8xb2-160k_ade20k-512x512.py.
_base_ = '../_base_/plain_vit/upernet_vit_simple-fpn_tiny_1xb4-100it_synthetic-ade20k.py'
custom_imports = dict(
    imports=['projects.magneto', 'projects.simple_fpn'],
    allow_failed_imports=False)

model = dict(backbone=dict(type='MagnetoViT'))
