# Tiny CPU check: UPerNet on a "nano" Conformer (6 blocks, C1=16, 32-dim
# tokens) on synthetic ADE20K, 128 px crops. Real-data counterpart:
# upernet_conformer-small-p16_8xb2-160k_ade20k-512x512.py.
_base_ = '../upernet/upernet_r18_tiny_1xb4-200it_synthetic-ade20k.py'
custom_imports = dict(imports=['projects.conformer'],
                      allow_failed_imports=False)

model = dict(
    backbone=dict(_delete_=True, type='ConformerDense',
                  arch=dict(embed_dims=32, channel_ratio=0.25, num_heads=2,
                            depths=6),
                  out_indices=(2, 4, 5, 6)),
    decode_head=dict(in_channels=[16, 32, 64, 64]),
    auxiliary_head=dict(in_channels=64))
