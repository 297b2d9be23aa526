# Tiny CPU check: UPerNet on a "nano" RevViT (2 reversible layers, 32-dim
# streams) through SimpleFPN on synthetic ADE20K, 128 px crops. Real-data
# counterpart: upernet_revvit-small_simple-fpn_8xb2-160k_ade20k-512x512.py.
_base_ = '../upernet/upernet_r18_tiny_1xb4-200it_synthetic-ade20k.py'
custom_imports = dict(imports=['projects.revvit', 'projects.simple_fpn'],
                      allow_failed_imports=False)

model = dict(
    backbone=dict(_delete_=True, type='RevViT',
                  arch=dict(embed_dims=32, num_layers=2, num_heads=2,
                            feedforward_channels=64),
                  img_size=128, out_type='featmap', drop_path_rate=0.1),
    neck=dict(type='SimpleFPN', backbone_channel=64,
              in_channels=[16, 32, 64, 64], out_channels=64, num_outs=4),
    decode_head=dict(in_channels=[64, 64, 64, 64]),
    auxiliary_head=dict(in_channels=64))
