# Magneto ViT-B (Sub-LN, gamma = sqrt(log 24) init) trained from scratch
# on ImageNet-1k with the DeiT recipe (300 epochs, 8 GPUs x 128, AdamW,
# Mixup/CutMix, label smoothing). The paper fine-tunes BEiT-pretrained
# ViT-B/L instead (BEiT pre-training is not part of this config); no
# official number exists for this recipe.
_base_ = '../_base_/plain_vit/vit-base_8xb128-300e_in1k.py'
custom_imports = dict(
    imports=['projects.magneto'],
    allow_failed_imports=False)

model = dict(
    backbone=dict(type='MagnetoViT', arch='base'),
    head=dict(in_channels=768))
