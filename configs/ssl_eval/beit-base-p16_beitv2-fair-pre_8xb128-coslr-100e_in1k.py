# Fine-tuning of a ViT-B/16 pre-trained by BEiT v2 in the fair benchmark:
# mmpretrain's BEiT v2 fine-tune benchmark (100 epochs, layer decay 0.6).
_base_ = 'mmpretrain::beitv2/benchmarks/beit-base-p16_8xb128-coslr-100e_in1k.py'
custom_imports = dict(imports=['projects.ssl_eval'],
                      allow_failed_imports=False)

model = dict(
    backbone=dict(
        init_cfg=dict(type='Pretrained', checkpoint='', prefix='backbone.')))
