# BEVFormer v2 R-50 t1, 48 epochs (step at 44). Official
# bevformerv2-r50-t1-48ep: NDS 0.4646 / mAP 0.3953 on nuScenes val.
_base_ = './bevformer-v2_r50_t1_16xb1-24e_nuscenes.py'

max_epochs = 48
param_scheduler = [
    dict(type='LinearLR', start_factor=1.0 / 3, by_epoch=False, begin=0,
         end=2000),
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=max_epochs,
         milestones=[44], gamma=0.1)
]
train_cfg = dict(max_epochs=max_epochs)
