# Search of the Auto Seg-Loss BF1 surrogate with the official proxy and
# policy (see the mIoU search config); reward 'BF1' on the held-out part of
# VOC train.
# BF1 searches 4 one-piece functions (8 parameters).
_base_ = './deeplabv3plus_r50-d8_asl-miou-search_1xb32-1k_voc12aug-128x128.py'

target_metric = 'BF1'
loss_search = dict(
    space=dict(target_metric=target_metric),
    reward=dict(metric='BF1'))
