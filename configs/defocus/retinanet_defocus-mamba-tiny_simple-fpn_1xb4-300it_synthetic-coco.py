# RetinaNet with a 2-layer, 64-wide De-focus Mamba and SimpleFPN trained from
# scratch on synthetic COCO (128 px) on CPU: checks the stride-16 map ->
# SimpleFPN -> RetinaNet path end to end. Real-size counterpart:
# retinanet_defocus-mamba-base_simple-fpn_8xb2-1x_coco.py.
_base_ = '../retinanet/retinanet_r18_fpn_tiny_1xb4-300it_synthetic-coco.py'
custom_imports = dict(imports=['projects.defocus', 'projects.simple_fpn'],
                      allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='DefocusMamba',
        arch=dict(embed_dims=64, intermediate_size=128, num_layers=2,
                  time_step_rank=8, group_norm_size=32),
        patch_size=16,
        out_type='featmap'),
    neck=dict(
        _delete_=True,
        type='SimpleFPN',
        backbone_channel=64,
        in_channels=[16, 32, 64, 64],
        out_channels=64,
        num_outs=5,
        norm_cfg=dict(type='LN2d', requires_grad=True)),
    bbox_head=dict(
        in_channels=64,
        feat_channels=64,
        anchor_generator=dict(octave_base_scale=8,
                              strides=[4, 8, 16, 32, 64])))
