# Tiny CPU check: RetinaNet + FPN on a "nano" Hiera (C=16, one block per
# stage) on synthetic COCO at 128 px. Real-data counterpart:
# mask-rcnn_hiera-base_fpn_8xb2-1x_coco.py.
_base_ = '../retinanet/retinanet_r18_fpn_tiny_1xb4-300it_synthetic-coco.py'
custom_imports = dict(imports=['projects.hiera'], allow_failed_imports=False)

model = dict(
    backbone=dict(_delete_=True, type='HieraDense',
                  arch=dict(embed_dim=16, num_heads=1, stages=(1, 1, 1, 1)),
                  img_size=128, out_indices=(0, 1, 2, 3)),
    neck=dict(in_channels=[16, 32, 64, 128]))
