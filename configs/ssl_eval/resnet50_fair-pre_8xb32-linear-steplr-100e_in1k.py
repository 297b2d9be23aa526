# Linear probe of a ResNet-50 pre-trained with an SGD recipe of the fair
# benchmark (configs/ssl_benchmark/*_resnet50_fair_*): frozen backbone, SGD
# lr 30, steps at 60 / 80, 100 epochs, batch 256 (the protocol Huang et al.
# tie to SGD pre-training; mmpretrain's MoCo v2 linear benchmark).
#   python tools/train.py configs/ssl_eval/resnet50_fair-pre_8xb32-linear-steplr-100e_in1k.py \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/byol/epoch_200.pth
_base_ = 'mmpretrain::mocov2/benchmarks/resnet50_8xb32-linear-steplr-100e_in1k.py'
custom_imports = dict(imports=['projects.ssl_eval'],
                      allow_failed_imports=False)

model = dict(
    backbone=dict(
        frozen_stages=4,
        norm_eval=True,
        init_cfg=dict(type='Pretrained', checkpoint='', prefix='backbone.')))
