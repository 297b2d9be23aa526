# Linear probe of UniGrad (configs/unigrad/unigrad_resnet50_8xb128-amp-
# coslr-100e_in1k.py): the SimSiam protocol the official code uses (LARS,
# batch 4096, base lr 0.1 -> 1.6, wd 0, 90 epochs, cosine), i.e.
# mmpretrain's SimSiam linear benchmark. Official: 70.3 top-1.
#   python tools/train.py configs/ssl_eval/resnet50_unigrad-pre_8xb512-linear-coslr-90e_in1k.py \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/unigrad/epoch_100.pth
_base_ = 'mmpretrain::simsiam/benchmarks/resnet50_8xb512-linear-coslr-90e_in1k.py'
custom_imports = dict(imports=['projects.ssl_eval'],
                      allow_failed_imports=False)

model = dict(
    backbone=dict(
        frozen_stages=4,
        norm_eval=True,
        init_cfg=dict(type='Pretrained', checkpoint='', prefix='backbone.')))
