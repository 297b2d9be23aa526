# Tiny CPU search of the Auto Seg-Loss gAcc surrogate (see the mIoU one);
# reward 'aAcc' on 16 held-out synthetic training images.
_base_ = './upernet_r18_asl-miou-search_tiny_1xb4-20it_synthetic-ade20k.py'

target_metric = 'gAcc'
loss_search = dict(
    space=dict(target_metric=target_metric),
    reward=dict(metric='aAcc'))
