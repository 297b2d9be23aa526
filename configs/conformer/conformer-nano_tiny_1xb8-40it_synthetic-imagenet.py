# Tiny CPU check: a "nano" Conformer (6 blocks, C1=16, 32-dim tokens) with
# mmpretrain's ConformerHead on synthetic ImageNet at 64 px. Real-data
# counterpart: conformer-small-p16_8xb128_in1k.py.
_base_ = '../hiera/hiera-nano_tiny_1xb8-40it_synthetic-imagenet.py'
custom_imports = dict(imports=['projects.conformer'],
                      allow_failed_imports=False)

nano = dict(embed_dims=32, channel_ratio=0.25, num_heads=2, depths=6)
model = dict(
    backbone=dict(_delete_=True, type='ConformerDense', arch=nano,
                  out_type='pooled', out_indices=(6, )),
    head=dict(_delete_=True, type='ConformerHead', num_classes=1000,
              in_channels=[64, 32],
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))
