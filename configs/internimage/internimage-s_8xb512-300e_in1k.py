# InternImage-S on ImageNet-1k: the T recipe with the S arch (layer scale
# 1e-5, post-norm, drop path 0.4; classification/configs/
# internimage_s_1k_224.yaml). Official: 84.2 top-1, 50M params, 8G FLOPs.
_base_ = './internimage-t_8xb512-300e_in1k.py'

model = dict(backbone=dict(arch='s'), head=dict(in_channels=640))
