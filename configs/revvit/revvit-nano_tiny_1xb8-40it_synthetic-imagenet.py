# Tiny CPU check: a "nano" RevViT (2 reversible layers, 32-dim streams,
# drop path 0.1) on synthetic ImageNet at 64 px. Real-data counterpart:
# revvit-small_8xb256_in1k.py.
_base_ = '../hiera/hiera-nano_tiny_1xb8-40it_synthetic-imagenet.py'
custom_imports = dict(imports=['projects.revvit'], allow_failed_imports=False)

nano = dict(embed_dims=32, num_layers=2, num_heads=2,
            feedforward_channels=64)
model = dict(
    backbone=dict(_delete_=True, type='RevViT', arch=nano, img_size=64,
                  drop_path_rate=0.1, out_type='avg_featmap'),
    head=dict(in_channels=64))
