# Tiny CPU check: UPerNet on a "nano" Hiera (C=16, one block per stage) on
# synthetic ADE20K, 128 px crops; sliding-window test keeps 128x128 inputs.
# Real-data counterpart: upernet_hiera-base_8xb2-160k_ade20k-512x512.py.
_base_ = '../upernet/upernet_r18_tiny_1xb4-200it_synthetic-ade20k.py'
custom_imports = dict(imports=['projects.hiera'], allow_failed_imports=False)

model = dict(
    backbone=dict(_delete_=True, type='HieraDense',
                  arch=dict(embed_dim=16, num_heads=1, stages=(1, 1, 1, 1)),
                  img_size=128, out_indices=(0, 1, 2, 3)),
    decode_head=dict(in_channels=[16, 32, 64, 128]),
    auxiliary_head=dict(in_channels=64),
    test_cfg=dict(mode='slide', crop_size=(128, 128), stride=(85, 85)))
