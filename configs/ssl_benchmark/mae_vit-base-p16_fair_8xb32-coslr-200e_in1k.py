# MAE (mmpretrain `MAE`, ViT-B/16, 75 % masking, 8-layer 512-d decoder,
# normalised-pixel targets) in the fair benchmark (ImageNet-1k): epochs,
# batch, schedule, crop and kNN evaluation as every other algorithm,
# optimiser and ViT shared with BEiT v2 (see the MIM base).
_base_ = './_base_/fair-mim_vit-base-p16_8xb32-200e_in1k.py'

model = dict(
    type='MAE',
    data_preprocessor={{_base_.data_preprocessor}},
    backbone=dict(type='MAEViT', arch={{_base_.mim_arch}},
                  patch_size={{_base_.patch_size}}, mask_ratio=0.75),
    neck=dict(type='MAEPretrainDecoder', num_patches={{_base_.num_patches}},
              patch_size={{_base_.patch_size}}, in_chans=3, embed_dim=768,
              decoder_embed_dim=512, decoder_depth=8, decoder_num_heads=16,
              mlp_ratio=4.),
    head=dict(type='MAEPretrainHead', norm_pix=True,
              patch_size={{_base_.patch_size}},
              loss=dict(type='PixelReconstructionLoss', criterion='L2')),
    init_cfg=[
        dict(type='Xavier', layer='Linear', distribution='uniform'),
        dict(type='Constant', layer='LayerNorm', val=1.0, bias=0.0)
    ])
