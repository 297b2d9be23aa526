# Castling-ViT-S (DeiT-S size, linear-angular attention) trained from
# scratch on ImageNet-1k with the DeiT recipe (300 epochs, 8 GPUs x 128,
# AdamW, Mixup/CutMix, label smoothing). The auxiliary masked softmax
# branch trains with the L1 mask term (CastlingMaskL1Hook) and is dropped
# at evaluation. The paper's ImageNet models use MViT/LeViT hosts that are
# not released; no official number exists for this plain-ViT host.
_base_ = '../_base_/plain_vit/vit-base_8xb128-300e_in1k.py'
custom_imports = dict(
    imports=['projects.castling_vit'],
    allow_failed_imports=False)

model = dict(
    backbone=dict(type='CastlingViT', arch='small'),
    head=dict(in_channels=384))

# L1 on the masks of the auxiliary softmax branches (flat params: no
# weight decay), ramped in over the first 20 epochs (1251 iterations
# per epoch at 8 x 128).
custom_hooks = [
    dict(type='CastlingMaskL1Hook', loss_weight=1e-3, ramp_iters=20 * 1251)
]
