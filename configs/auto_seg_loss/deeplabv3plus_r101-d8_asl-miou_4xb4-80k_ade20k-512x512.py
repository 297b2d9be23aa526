# DeepLabV3+ R-101-D8 on ADE20K (mmseg's 80k recipe, 150 classes) trained with
# the searched mIoU surrogate (VOC-searched parameters, transferred; the loss
# averages over all 150 classes, absent ones counting 0, as the official
# code). Baseline: mmseg's deeplabv3plus_r101-d8_4xb4-80k_ade20k-512x512.py
# with cross-entropy, 44.60 mIoU. No official Auto Seg-Loss number for this
# setting is released.
_base_ = 'mmseg::deeplabv3plus/deeplabv3plus_r101-d8_4xb4-80k_ade20k-512x512.py'  # noqa
custom_imports = dict(imports=['projects.auto_seg_loss'],
                      allow_failed_imports=False)

model = dict(
    decode_head=dict(
        loss_decode=dict(
            _delete_=True, type='AutoSegLoss', target_metric='mIoU',
            params_file='projects/auto_seg_loss/params/miou.json',
            loss_weight=1.0)),
    auxiliary_head=dict(
        loss_decode=dict(
            _delete_=True, type='AutoSegLoss', target_metric='mIoU',
            params_file='projects/auto_seg_loss/params/miou.json',
            loss_weight=0.4)))
val_evaluator = [
    dict(type='IoUMetric', iou_metrics=['mIoU']),
    dict(type='BIoUMetric', tol=5),
    dict(type='BF1Metric', tol=5),
]
test_evaluator = val_evaluator
