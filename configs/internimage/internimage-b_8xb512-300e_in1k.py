# InternImage-B on ImageNet-1k: the T recipe with the B arch (layer scale
# 1e-5, post-norm, drop path 0.5; classification/configs/
# internimage_b_1k_224.yaml). Official: 84.9 top-1, 97M params, 16G FLOPs.
_base_ = './internimage-t_8xb512-300e_in1k.py'

model = dict(backbone=dict(arch='b'), head=dict(in_channels=896))
