# Search of the PAP loss parameters of RetinaNet R-50 FPN with the official
# proxy (fundamentalvision/Parameterized-AP-Loss search_configs/
# cfg_search_retina.py, tools/search.py): 40 rounds x 8 samples; each sample
# trains ImageNet R-50 RetinaNet for 1 epoch at 512 px (SSD-style
# augmentation), SGD with a 500-iteration warm-up then constant LR, and is
# rewarded with COCO box AP on a held-out part of train2017 (5000 images)
# at test scale (833, 500). 41 parameters: H2, I2, I3, I1, H1 (8 theta each)
# and the box gradient scale 10^(2 theta - 1), which here really reaches the
# head (its reg_weight).
# Deviation: the official search trained each sample data-parallel on 8 GPUs
# (8 x 8 images, lr 0.016) one after another; here the 8 samples of a round
# train at the same time, one per GPU (8 images, lr 0.016 / 8). Set
# train_dataloader.batch_size / the lr to taste.
#   tools/misc/dist_launch.sh search_loss.py 8 configs/loss_search/<this> \
#       --work-dir work_dirs/loss_search/pap_retinanet
# or on one 8-GPU machine without torchrun (workers='auto': one per GPU):
#   python tools/search_loss.py configs/loss_search/<this> --work-dir ...
_base_ = '../pap_loss/retinanet_r50_fpn_pap-loss_8xb8-100e_coco.py'
custom_imports = dict(imports=['projects.pap_loss', 'projects.loss_search'],
                      allow_failed_imports=False)

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1, val_interval=2)
optim_wrapper = dict(optimizer=dict(lr=0.016 / 8))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
         end=500)
]
train_dataloader = dict(batch_size=8)

loss_search = dict(
    space=dict(type='PAPSpace', detector='RetinaNet R-50 FPN',
               heads=[dict(name='retinanet', path='model.bbox_head')]),
    reward=dict(metric='coco/bbox_mAP', split='held_out',
                held_out=dict(num=5000, seed=0)),
    evaluator=dict(type='TrainProxy', workers='auto', threads=4),
    policy=dict(sigma=0.2, sigma_schedule='linear',
                clip_mode='sum_clipped_log_ratio', clip_eps=0.1, lr=0.01,
                update_steps=100, lr_schedule='warmup_linear',
                warmup_steps=30, keep_optimizer_state=False,
                baseline='mean'),
    num_rounds=40,
    samples_per_round=8,
    seed=42)
