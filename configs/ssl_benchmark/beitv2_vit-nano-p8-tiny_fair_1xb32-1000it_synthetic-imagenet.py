# BEiT v2 (mmpretrain `BEiT` with `BEiTV2Neck`: block-wise masking,
# prediction of the visual tokens of a VQ-KD tokenizer, patch-aggregation
# neck) in the tiny fair benchmark: ViT, schedule, batch, optimiser, crop
# and kNN evaluation come from the shared bases. The tokenizer here is a
# randomly initialised, frozen nano VQ-KD (the real one is distilled from
# CLIP, see the real-size config). 10 of 25 patches masked (40 %).
_base_ = './_base_/fair-mim_tiny_synthetic-imagenet.py'

crop = 40
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomResizedCropAndInterpolationWithTwoPic', size=crop,
         second_size=crop, interpolation='bicubic',
         second_interpolation='bicubic', scale=(0.2, 1.0)),
    dict(type='BEiTMaskGenerator', input_size=(5, 5),
         num_masking_patches=10, max_num_patches=10, min_num_patches=2),
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

model = dict(
    type='BEiT',
    data_preprocessor=two_norm_preprocessor,
    backbone=dict(type='BEiTPretrainViT', arch={{_base_.mim_arch}},
                  img_size=crop, patch_size={{_base_.patch_size}},
                  out_indices=[-2, -1], final_norm=False, out_type='raw',
                  layer_scale_init_value=0.1),
    neck=dict(type='BEiTV2Neck', num_layers=1, early_layers=3,
              backbone_arch={{_base_.mim_arch}},
              layer_scale_init_value=0.1),
    head=dict(type='BEiTV2Head', embed_dims=64, num_embed=256,
              loss=dict(type='CrossEntropyLoss')),
    target_generator=dict(
        type='VQKD',
        num_embed=256,
        embed_dims=16,
        quantize_kmeans_init=False,
        encoder_config=dict(
            arch=dict(embed_dims=48, num_layers=2, num_heads=4,
                      feedforward_channels=96),
            img_size=crop, patch_size={{_base_.patch_size}},
            out_type='featmap', with_cls_token=True, final_norm=True,
            use_abs_pos_emb=True, use_rel_pos_bias=False,
            use_shared_rel_pos_bias=False, layer_scale_init_value=0.,
            norm_cfg=dict(type='LN', eps=1e-6))))
find_unused_parameters = True
