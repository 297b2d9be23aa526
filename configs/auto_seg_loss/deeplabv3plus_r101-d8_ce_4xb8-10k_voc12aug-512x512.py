# Cross-entropy baseline on the official Auto Seg-Loss retrain protocol
# (ASL_configs/retrain/*_bezier_10k.py): DeepLabV3+ R-101-D8 (SyncBN), VOC
# 2012 aug train, 512x512 crops, 4 GPUs x 8 images, SGD lr 0.02 with the
# heads at 10x lr, poly, 10k iterations. Evaluated with mIoU / mAcc / aAcc
# (mmseg IoUMetric) and BIoU / BF1 (drop_bg, tol 5, as the official VOC
# evaluation). Official VOC val (README): 78.69 mIoU, 91.31 FWIoU,
# 70.61 BIoU, 65.30 BF1, 87.31 mAcc, 95.17 gAcc.
_base_ = 'mmseg::deeplabv3plus/deeplabv3plus_r101-d8_4xb4-20k_voc12aug-512x512.py'  # noqa
custom_imports = dict(imports=['projects.auto_seg_loss'],
                      allow_failed_imports=False)

max_iters = 10000
train_dataloader = dict(batch_size=8, num_workers=4)
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=0.0005),
    paramwise_cfg=dict(custom_keys={'head': dict(lr_mult=10.0)}))
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=max_iters,
         by_epoch=False)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=2000)
val_evaluator = [
    dict(type='IoUMetric', iou_metrics=['mIoU']),
    dict(type='BIoUMetric', tol=5, drop_bg=True),
    dict(type='BF1Metric', tol=5, drop_bg=True),
]
test_evaluator = val_evaluator
auto_scale_lr = dict(enable=False, base_batch_size=32)
