# FLIP (projects.flip: CLIP's image-text InfoNCE with 50 % of the image
# patches dropped) in the tiny fair benchmark: ViT, schedule, batch,
# optimiser, crop and kNN evaluation come from the shared bases. The texts
# are the set's class-name prompts (annotations/captions_{train,val}.json,
# e.g. "a photo of a ring.", CLIP's BPE tokens), so FLIP sees the class
# names: weak supervision the other methods do not get. Text tower: CLIP's,
# 2 layers at the ViT width.
_base_ = './_base_/fair-mim_tiny_synthetic-imagenet.py'
custom_imports = dict(imports=['projects.ssl_eval', 'projects.flip'],
                      allow_failed_imports=False)

data_root = 'data/ssl_patterns/'  # the base's
context_length = 16  # the longest prompt has 11 BPE tokens + SOT / EOT
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=40, crop_ratio_range=(0.2, 1.),
         backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='TokenizeCaption', context_length=context_length,
         mode='random'),
    dict(type='PackInputs', algorithm_keys=('text_tokens', )),
]
train_dataloader = dict(dataset=dict(
    _delete_=True,
    type='COCOCaptions',
    data_root=data_root,
    ann_file='annotations/captions_train.json',
    data_prefix='train/',
    pipeline=train_pipeline))

model = dict(
    type='FLIP',
    embed_dims=64,
    mask_ratio=0.5,
    data_preprocessor={{_base_.selfsup_preprocessor}},
    backbone=dict(type='MAEViT', arch={{_base_.mim_arch}},
                  img_size={{_base_.crop}},
                  patch_size={{_base_.patch_size}}),
    text_encoder=dict(
        type='CausalTextTransformer',
        embed_dims=64,
        context_length=context_length,
        width=64,
        num_layers=2,
        num_heads=4))
