# Tiny CPU check: RetinaNet on a "nano" RevViT (2 reversible layers, 32-dim
# streams) through SimpleFPN on synthetic COCO at 128 px. SimpleFPN's five
# levels are strides 4-64, so the anchors use those strides. Real-data
# counterpart: mask-rcnn_revvit-base_simple-fpn_8xb2-1x_coco.py.
_base_ = '../retinanet/retinanet_r18_fpn_tiny_1xb4-300it_synthetic-coco.py'
custom_imports = dict(imports=['projects.revvit', 'projects.simple_fpn'],
                      allow_failed_imports=False)

model = dict(
    backbone=dict(_delete_=True, type='RevViT',
                  arch=dict(embed_dims=32, num_layers=2, num_heads=2,
                            feedforward_channels=64),
                  img_size=128, out_type='featmap', drop_path_rate=0.1),
    neck=dict(_delete_=True, type='SimpleFPN', backbone_channel=64,
              in_channels=[16, 32, 64, 64], out_channels=128, num_outs=5),
    bbox_head=dict(anchor_generator=dict(strides=[4, 8, 16, 32, 64])))
