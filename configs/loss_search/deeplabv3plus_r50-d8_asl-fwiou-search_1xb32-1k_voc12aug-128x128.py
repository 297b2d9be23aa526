# Search of the Auto Seg-Loss FWIoU surrogate with the official proxy and
# policy (see the mIoU search config); reward 'FWIoU' on the held-out part of
# VOC train.
_base_ = './deeplabv3plus_r50-d8_asl-miou-search_1xb32-1k_voc12aug-128x128.py'

target_metric = 'FWIoU'
loss_search = dict(
    space=dict(target_metric=target_metric),
    reward=dict(metric='FWIoU'))
