# BEVFormer v2 with InternImage-B (COCO-pretrained in the paper), single
# frame, two-stage (hybrid queries). Paper (Table 3, val, 48 ep,
# "Perspective & BEV"): NDS 0.485 / mAP 0.417; batch 16, lr 4e-4 with a
# layer-wise lr decay of 0.96 (Table 7; the official InternImage constructor,
# which replaces the R-50 configs' backbone lr_mult 0.5; weight decay 0.01 as
# the R-50 recipe, the paper gives none for InternImage).
_base_ = './bevformer-v2_r50_t1-hybrid_16xb1-48e_nuscenes.py'
custom_imports = dict(
    imports=['projects.bevformer_v2', 'projects.internimage'],
    allow_failed_imports=False)

model = dict(
    img_backbone=dict(
        _delete_=True,
        type='InternImage',
        arch='b',
        out_indices=(1, 2, 3),
        init_cfg=None),
    img_neck=dict(in_channels=[224, 448, 896]))
load_from = None
optim_wrapper = dict(
    constructor='InternImageLayerDecayOptimizerConstructor',
    paramwise_cfg=dict(
        _delete_=True,
        layer_decay_rate=0.96,
        num_layers=33,
        depths=[4, 4, 21, 4]))
