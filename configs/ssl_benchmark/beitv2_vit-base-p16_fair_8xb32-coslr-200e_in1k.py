# BEiT v2 (mmpretrain `BEiT` + `BEiTV2Neck`, ViT-B/16, 75 of 196 patches
# block-masked, targets = codes of the official VQ-KD tokenizer) in the
# fair benchmark (ImageNet-1k): epochs, batch, schedule, crop and kNN
# evaluation as every other algorithm, optimiser and ViT shared with MAE.
# Views: the same RandomResizedCrop (0.2-1) + flip as MAE (no colour
# jitter), cropped twice at the same box for the tokenizer.
_base_ = './_base_/fair-mim_vit-base-p16_8xb32-200e_in1k.py'

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomResizedCropAndInterpolationWithTwoPic', size=224,
         second_size=224, interpolation='bicubic',
         second_interpolation='bicubic', scale=(0.2, 1.0)),
    dict(type='BEiTMaskGenerator', input_size=(14, 14),
         num_masking_patches=75, max_num_patches=75, min_num_patches=16),
    dict(type='PackInputs'),
]
two_norm_preprocessor = dict(
    type='TwoNormDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    second_mean=[127.5, 127.5, 127.5],
    second_std=[127.5, 127.5, 127.5],
    to_rgb=True)
data_preprocessor = dict(_delete_=True, **two_norm_preprocessor)
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

vqkd_encoder = dict(
    arch='base', img_size=224, patch_size=16, in_channels=3, out_indices=-1,
    drop_rate=0., drop_path_rate=0., norm_cfg=dict(type='LN', eps=1e-6),
    final_norm=True, out_type='featmap', with_cls_token=True,
    frozen_stages=-1, use_abs_pos_emb=True, use_rel_pos_bias=False,
    use_shared_rel_pos_bias=False, layer_scale_init_value=0.,
    interpolate_mode='bicubic', patch_cfg=dict(), layer_cfgs=dict(),
    init_cfg=None)
model = dict(
    type='BEiT',
    data_preprocessor=two_norm_preprocessor,
    backbone=dict(
        type='BEiTPretrainViT', arch={{_base_.mim_arch}},
        patch_size={{_base_.patch_size}}, out_indices=[-4, -1],
        drop_path_rate=0., final_norm=False, out_type='raw',
        layer_scale_init_value=0.1,
        init_cfg=[
            dict(type='TruncNormal', std=0.02, layer='Linear'),
            dict(type='TruncNormal', std=0.02, layer='Conv2d'),
            dict(type='Constant', layer='LayerNorm', val=1.0, bias=0.0)
        ]),
    neck=dict(type='BEiTV2Neck', num_layers=2, early_layers=9,
              backbone_arch={{_base_.mim_arch}}, drop_path_rate=0.,
              layer_scale_init_value=0.1),
    head=dict(type='BEiTV2Head', embed_dims=768, num_embed=8192,
              loss=dict(type='CrossEntropyLoss')),
    target_generator=dict(
        type='VQKD',
        encoder_config=vqkd_encoder,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.openmmlab.com/mmselfsup/1.x/'
            'target_generator_ckpt/vqkd_encoder.pth')))
find_unused_parameters = True
