# Rev-ViT-S ImageNet-1k classifier: mmpretrain's recipe with the RevViT
# subclass (reproducible, local drop-path seeding). Official: 79.9 top-1
# (22M params, 4.6 GFLOPs; mmpretrain's converted weights: 79.87).
_base_ = 'mmpretrain::revvit/revvit-small_8xb256_in1k.py'
custom_imports = dict(imports=['projects.revvit'], allow_failed_imports=False)

model = dict(backbone=dict(type='RevViT'))
