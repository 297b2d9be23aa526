# Fine-tuning of a ViT-B/16 pre-trained by MAE in the fair benchmark: the
# MAE recipe (100 epochs, AdamW, layer decay 0.65, RandAugment, mixup /
# cutmix), mmpretrain's MAE fine-tune benchmark.
_base_ = 'mmpretrain::mae/benchmarks/vit-base-p16_8xb128-coslr-100e_in1k.py'
custom_imports = dict(imports=['projects.ssl_eval'],
                      allow_failed_imports=False)

model = dict(
    backbone=dict(
        init_cfg=dict(type='Pretrained', checkpoint='', prefix='backbone.')))
