# Fine-tuning of MaskDistill (configs/maskdistill/maskdistill_beit-base-
# p16_clip-b16_8xb256-amp-coslr-300e_in1k.py): its student is a BEiT ViT-B
# with shared relative position bias and layer scale, so the BEiT
# fine-tune benchmark of mmpretrain applies (BEiTViT converts the shared
# relative position bias into per-layer tables when loading; 100 epochs,
# AdamW, layer decay 0.65, drop path 0.1).
_base_ = 'mmpretrain::beit/benchmarks/beit-base-p16_8xb128-coslr-100e_in1k.py'
custom_imports = dict(imports=['projects.ssl_eval'],
                      allow_failed_imports=False)

model = dict(
    backbone=dict(
        init_cfg=dict(type='Pretrained', checkpoint='', prefix='backbone.')))
