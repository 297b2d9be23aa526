# UPerNet with a 2-layer, 64-wide De-focus Mamba and SimpleFPN trained from
# scratch on synthetic ADE20K (128 px crops) on CPU. Inference slides
# 128x128 windows so backbone inputs stay multiples of the patch size.
# Real-size counterpart:
# upernet_defocus-mamba-base_simple-fpn_8xb2-160k_ade20k-512x512.py.
_base_ = '../upernet/upernet_r18_tiny_1xb4-200it_synthetic-ade20k.py'
custom_imports = dict(imports=['projects.defocus', 'projects.simple_fpn'],
                      allow_failed_imports=False)

crop_size = (128, 128)
model = dict(
    backbone=dict(
        _delete_=True,
        type='DefocusMamba',
        arch=dict(embed_dims=64, intermediate_size=128, num_layers=2,
                  time_step_rank=8, group_norm_size=32),
        patch_size=16,
        out_type='featmap'),
    neck=dict(
        type='SimpleFPN',
        backbone_channel=64,
        in_channels=[16, 32, 64, 64],
        out_channels=64,
        num_outs=4,
        norm_cfg=dict(type='LN2d', requires_grad=True)),
    decode_head=dict(in_channels=[64, 64, 64, 64]),
    auxiliary_head=dict(in_channels=64, in_index=2),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(85, 85)))
