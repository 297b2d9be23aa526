# The tiny synthetic-ADE20K UPerNet R-18 (128 px crops, CPU) trained with the
# searched BIoU surrogate (Auto Seg-Loss, released parameters) on both heads
# instead of cross-entropy; evaluated with mIoU, BIoU and BF1. Compare with
# ../upernet/upernet_r18_tiny_1xb4-200it_synthetic-ade20k.py.
_base_ = '../upernet/upernet_r18_tiny_1xb4-200it_synthetic-ade20k.py'
custom_imports = dict(
    imports=['projects.stack_compat', 'projects.auto_seg_loss'],
    allow_failed_imports=False)

model = dict(
    decode_head=dict(
        loss_decode=dict(
            _delete_=True, type='AutoSegLoss', target_metric='BIoU',
            params_file='projects/auto_seg_loss/params/biou.json',
            loss_weight=1.0)),
    auxiliary_head=dict(
        loss_decode=dict(
            _delete_=True, type='AutoSegLoss', target_metric='BIoU',
            params_file='projects/auto_seg_loss/params/biou.json',
            loss_weight=0.4)))
val_evaluator = [
    dict(type='IoUMetric', iou_metrics=['mIoU']),
    dict(type='BIoUMetric', tol=2),
    dict(type='BF1Metric', tol=2),
]
test_evaluator = val_evaluator
