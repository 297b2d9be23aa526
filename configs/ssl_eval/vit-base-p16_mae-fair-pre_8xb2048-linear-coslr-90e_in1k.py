# Linear probe of a ViT-B/16 pre-trained by MAE in the fair benchmark: the
# MAE protocol (frozen backbone, class token + BatchNorm neck, LARS,
# batch 16384, 90 epochs), mmpretrain's MAE linear benchmark.
_base_ = 'mmpretrain::mae/benchmarks/vit-base-p16_8xb2048-linear-coslr-90e_in1k.py'
custom_imports = dict(imports=['projects.ssl_eval'],
                      allow_failed_imports=False)

model = dict(
    backbone=dict(
        init_cfg=dict(type='Pretrained', checkpoint='', prefix='backbone.')))
