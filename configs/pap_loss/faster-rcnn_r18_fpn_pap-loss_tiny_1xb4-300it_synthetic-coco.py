# Faster R-CNN R-18 FPN on synthetic COCO (128 px, CPU) trained with the
# released searched PAP losses of the RPN and RCNN heads ("tiny": FPN and
# RPN 64 channels, a 256-wide box head, 256 proposals per image).
_base_ = [
    'mmdet::_base_/models/faster-rcnn_r50_fpn.py',
    '../_base_/datasets/synthetic_coco.py',
    '../_base_/schedules/tiny_adamw_300it.py',
]
custom_imports = dict(imports=['projects.pap_loss'],
                      allow_failed_imports=False)

model = dict(
    backbone=dict(depth=18, norm_eval=False, init_cfg=None),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=64),
    rpn_head=dict(
        type='PAPRPNHead',
        in_channels=64,
        feat_channels=64,
        bbox_coder=dict(target_stds=[0.1, 0.1, 0.2, 0.2]),
        reg_weight=1.6950,  # reg_weight of params/faster_rcnn_rpn.json
        loss_cls=dict(use_sigmoid=True),
        loss_pap=dict(
            type='PAPLoss',
            params_file='projects/pap_loss/params/faster_rcnn_rpn.json')),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=64),
        bbox_head=dict(
            type='PAPShared2FCBBoxHead',
            in_channels=64,
            fc_out_channels=256,
            reg_weight=7.1324,  # reg_weight of params/faster_rcnn_rcnn.json
            loss_pap=dict(
                type='PAPLoss',
                params_file='projects/pap_loss/params/faster_rcnn_rcnn.json'
            ))),
    train_cfg=dict(
        rpn=dict(sampler=dict(_delete_=True, type='PseudoSampler')),
        rpn_proposal=dict(nms_pre=1000, max_per_img=256),
        rcnn=dict(
            assigner=dict(pos_iou_thr=0.5, neg_iou_thr=0.5, min_pos_iou=0.5,
                          match_low_quality=False),
            sampler=dict(_delete_=True, type='PseudoSampler'))),
    test_cfg=dict(rpn=dict(nms_pre=500, max_per_img=256),
                  rcnn=dict(score_thr=0.01, max_per_img=50)))

train_dataloader = dict(batch_size=4, num_workers=2, persistent_workers=True)
val_dataloader = dict(batch_size=8, num_workers=2, persistent_workers=True)
test_dataloader = val_dataloader
