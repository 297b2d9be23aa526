# The AP-Loss / aLRP / PAP schedule: 100 epochs of SGD for 8 GPUs x 8
# images, 500-iteration linear warm-up, steps at epochs 60 and 80 (the
# Faster R-CNN configs override lr and milestones).
max_epochs = 100
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs,
                 val_interval=10)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.016, momentum=0.9, weight_decay=0.0001))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
         end=500),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True,
         milestones=[60, 80], gamma=0.1)
]
auto_scale_lr = dict(enable=False, base_batch_size=64)
