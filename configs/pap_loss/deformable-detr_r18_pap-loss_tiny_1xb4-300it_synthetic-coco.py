# Deformable DETR R-18 on synthetic COCO (128 px, CPU) trained with the PAP
# loss on Hungarian-matched queries. "tiny": 64-dim transformer, 2 encoder
# and 2 decoder layers, 50 queries; otherwise mmdet's
# deformable-detr_r50_16xb2-50e_coco.py model (written out here because
# mmdet ships it only together with its COCO data settings). Deformable
# attention runs mmcv's PyTorch path on CPU.
_base_ = [
    '../_base_/datasets/synthetic_coco.py',
    '../_base_/schedules/tiny_adamw_300it.py',
]
custom_imports = dict(imports=['projects.pap_loss'],
                      allow_failed_imports=False)

dims = 64
model = dict(
    type='DeformableDETR',
    num_queries=50,
    num_feature_levels=4,
    with_box_refine=False,
    as_two_stage=False,
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=1),
    backbone=dict(
        type='ResNet', depth=18, num_stages=4, out_indices=(1, 2, 3),
        frozen_stages=-1, norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False, style='pytorch', init_cfg=None),
    neck=dict(
        type='ChannelMapper', in_channels=[128, 256, 512], kernel_size=1,
        out_channels=dims, act_cfg=None,
        norm_cfg=dict(type='GN', num_groups=8), num_outs=4),
    encoder=dict(
        num_layers=2,
        layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=dims, batch_first=True),
            ffn_cfg=dict(embed_dims=dims, feedforward_channels=4 * dims,
                         ffn_drop=0.1))),
    decoder=dict(
        num_layers=2,
        return_intermediate=True,
        layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=dims, num_heads=4, dropout=0.1,
                               batch_first=True),
            cross_attn_cfg=dict(embed_dims=dims, batch_first=True),
            ffn_cfg=dict(embed_dims=dims, feedforward_channels=4 * dims,
                         ffn_drop=0.1)),
        post_norm_cfg=None),
    positional_encoding=dict(num_feats=dims // 2, normalize=True,
                             offset=-0.5),
    bbox_head=dict(
        type='PAPDeformableDETRHead',
        num_classes=80,
        embed_dims=dims,
        loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0,
                      alpha=0.25, loss_weight=2.0),
        loss_pap=dict(type='PAPLoss',
                      params_file='projects/pap_loss/params/retinanet.json')),
    train_cfg=dict(
        assigner=dict(
            type='HungarianAssigner',
            match_costs=[
                dict(type='FocalLossCost', weight=2.0),
                dict(type='BBoxL1Cost', weight=5.0, box_format='xywh'),
                dict(type='IoUCost', iou_mode='giou', weight=2.0)
            ])),
    test_cfg=dict(max_per_img=50))

train_dataloader = dict(batch_size=4, num_workers=2, persistent_workers=True)
val_dataloader = dict(batch_size=8, num_workers=2, persistent_workers=True)
test_dataloader = val_dataloader
