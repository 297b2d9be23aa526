# BEVFormer v2 with InternImage-B (COCO-pretrained in the paper), single
# frame, two-stage (hybrid queries). Paper (Table 3, val, 48 ep,
# "Perspective & BEV"): NDS 0.485 / mAP 0.417; batch 16, lr 4e-4 with a
# layer-wise lr decay of 0.96 (not applied here: plain backbone lr_mult 0.5).
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
