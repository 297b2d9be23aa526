# MAE (mmpretrain `MAE`: 75 % of the patches dropped, pixel regression of
# the normalised masked patches by a light decoder) in the tiny fair
# benchmark: ViT, schedule, batch, optimiser, crop and kNN evaluation come
# from the shared bases.
_base_ = './_base_/fair-mim_tiny_synthetic-imagenet.py'

model = dict(
    type='MAE',
    data_preprocessor={{_base_.selfsup_preprocessor}},
    backbone=dict(type='MAEViT', arch={{_base_.mim_arch}}, img_size=40,
                  patch_size={{_base_.patch_size}}, mask_ratio=0.75),
    neck=dict(type='MAEPretrainDecoder',
              num_patches={{_base_.num_patches}},
              patch_size={{_base_.patch_size}}, in_chans=3, embed_dim=64,
              decoder_embed_dim=32, decoder_depth=1, decoder_num_heads=4,
              mlp_ratio=4),
    head=dict(type='MAEPretrainHead', norm_pix=True,
              patch_size={{_base_.patch_size}},
              loss=dict(type='PixelReconstructionLoss', criterion='L2')),
    init_cfg=[
        dict(type='Xavier', layer='Linear', distribution='uniform'),
        dict(type='Constant', layer='LayerNorm', val=1.0, bias=0.0)
    ])
