# Tiny CPU check: RetinaNet + FPN on a "nano" Conformer (6 blocks, C1=16,
# 32-dim tokens; maps after blocks 2/4/5/6 at strides 4-32) on synthetic
# COCO at 128 px. Real-data counterpart:
# mask-rcnn_conformer-small-p32_fpn_8xb2-1x_coco.py.
_base_ = '../retinanet/retinanet_r18_fpn_tiny_1xb4-300it_synthetic-coco.py'
custom_imports = dict(imports=['projects.conformer'],
                      allow_failed_imports=False)

model = dict(
    backbone=dict(_delete_=True, type='ConformerDense',
                  arch=dict(embed_dims=32, channel_ratio=0.25, num_heads=2,
                            depths=6),
                  out_indices=(2, 4, 5, 6)),
    neck=dict(in_channels=[16, 32, 64, 64]))
