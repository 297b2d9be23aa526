# A two-layer Magneto ViT (64 channels, patch 8, Sub-LN + gamma init)
# trained from scratch on synthetic ImageNet (56 px crops) on CPU.
# Real-data counterpart: magneto-vit-base_8xb128-300e_in1k.py.
_base_ = '../_base_/plain_vit/vit_tiny_1xb8-100it_synthetic-imagenet.py'
custom_imports = dict(
    imports=['projects.magneto'],
    allow_failed_imports=False)

model = dict(backbone=dict(type='MagnetoViT'))
