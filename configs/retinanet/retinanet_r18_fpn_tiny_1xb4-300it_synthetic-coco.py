# RetinaNet R-18 FPN trained from scratch on synthetic COCO (128 px) on CPU:
# the toolbox's end-to-end detection check (make demo). "tiny": FPN and head
# are 128 channels wide with 2 stacked head convs. Real-data counterpart:
# mmdet::retinanet/retinanet_r18_fpn_1x_coco.py (31.7 box AP on COCO val).
_base_ = [
    'mmdet::_base_/models/retinanet_r50_fpn.py',
    '../_base_/datasets/synthetic_coco.py',
    '../_base_/schedules/tiny_adamw_300it.py',
]
custom_imports = dict(imports=['projects.stack_compat'],
                      allow_failed_imports=False)

model = dict(
    backbone=dict(depth=18, norm_eval=False, init_cfg=None),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=128),
    bbox_head=dict(in_channels=128, feat_channels=128, stacked_convs=2),
    test_cfg=dict(score_thr=0.01, max_per_img=50))

train_dataloader = dict(batch_size=4, num_workers=2, persistent_workers=True)
val_dataloader = dict(batch_size=8, num_workers=2, persistent_workers=True)
test_dataloader = val_dataloader
