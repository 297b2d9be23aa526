# FLIP (Li et al., CVPR 2023) ViT-B/16 on LAION-400M with the official
# settings (facebookresearch/flip configs/cfg_flip_base.py + default.py):
# 50% of the 196 patches dropped at random (98 kept), image embedding = mean
# of the encoder's output tokens, 512-d bias-free projections, text tower
# 512-d / 12 layers / 8 heads, 32 tokens (here CLIP's causal text Transformer
# on CLIP's BPE; the paper's is non-autoregressive on BERT WordPiece, see
# projects/flip/README.md), learnt logit scale
# (init log(1/0.07), clipped to [0, log 100]); batch 65536 (256 x 256),
# AdamW(0.9, 0.95), wd 0.2 (not on biases, norms, class token, position
# embeddings), lr 4e-6 x 65536 / 256, 10000 "virtual ImageNet epochs" of
# 1281167 samples = 19 x 10000 = 190k iterations (12.8B samples seen),
# 40 warm-up epochs (760 it), cosine to 0; RandomResizedCrop area 0.5-1,
# flip; ImageNet mean/std. Then unmasked tuning:
# flip_vit-base-p16_256xb256-unmasked-tuning-amp-coslr-1.9k_laion400m.py.
#
# Data: LAION-400M as a COCO-captions JSON (images with id/file_name,
# annotations with image_id/caption) under data/laion400m/, tokenised with
# CLIP's BPE (the vocabulary ships with open_clip_torch).
# Validation: zero-shot image-text retrieval on COCO 2017 val captions and
# zero-shot ImageNet-1k classification (CLIP's 80 prompts, OpenAI's class
# names) in one pass over both sets.
_base_ = ['mmpretrain::_base_/default_runtime.py']
custom_imports = dict(imports=['projects.flip'], allow_failed_imports=False)

data_root = 'data/laion400m/'
context_length = 32
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.5, 1.0),
         aspect_ratio_range=(3. / 4., 4. / 3.), backend='pillow',
         interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='TokenizeCaption', context_length=context_length,
         mode='random'),
    dict(type='PackInputs', algorithm_keys=('text_tokens', )),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=224, edge='short', backend='pillow',
         interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='TokenizeCaption', context_length=context_length, mode='all'),
    dict(type='PackInputs', algorithm_keys=('text_tokens', )),
]
zero_shot_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=224, edge='short', backend='pillow',
         interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=256,
    num_workers=10,
    persistent_workers=True,
    pin_memory=True,
    drop_last=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='COCOCaptions',
        data_root=data_root,
        ann_file='annotations/captions_train.json',
        data_prefix='images/',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=64,
    num_workers=4,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='ConcatDataset',
        ignore_keys=['classes'],
        datasets=[
            dict(type='COCOCaptions',
                 data_root='data/coco/',
                 ann_file='annotations/captions_val2017.json',
                 data_prefix='val2017/',
                 test_mode=True,
                 pipeline=test_pipeline),
            dict(type='ImageNet',
                 data_root='data/imagenet/',
                 split='val',
                 pipeline=zero_shot_pipeline),
        ]))
val_evaluator = [
    dict(type='ImageTextRetrieval', topk=(1, 5, 10)),
    dict(type='ZeroShotAccuracy', topk=(1, 5)),
]
test_dataloader = val_dataloader
test_evaluator = val_evaluator

model = dict(
    type='FLIP',
    embed_dims=512,
    mask_ratio=0.5,
    img_pool='avg',
    data_preprocessor=dict(
        type='SelfSupDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    backbone=dict(type='MAEViT', arch='b', img_size=224, patch_size=16),
    text_encoder=dict(
        type='CausalTextTransformer', arch='b',
        context_length=context_length),
    zero_shot_classes='imagenet',
    zero_shot_templates='openai_imagenet')

batch_size = 65536
lr = 4e-6 * batch_size / 256
iters_per_epoch = 1281167 // batch_size  # 19 iterations per virtual epoch
max_iters = iters_per_epoch * 10000
warmup_iters = iters_per_epoch * 40
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(type='AdamW', lr=lr, betas=(0.9, 0.95),
                   weight_decay=0.2),
    paramwise_cfg=dict(
        norm_decay_mult=0., bias_decay_mult=0.,
        custom_keys={'cls_token': dict(decay_mult=0.),
                     'pos_embed': dict(decay_mult=0.),
                     'positional_embedding': dict(decay_mult=0.),
                     'in_proj_bias': dict(decay_mult=0.)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0,
         end=warmup_iters),
    dict(type='CosineAnnealingLR', T_max=max_iters - warmup_iters,
         eta_min=0., by_epoch=False, begin=warmup_iters, end=max_iters),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=10000)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=100),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=5000,
                    max_keep_ckpts=3))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0, diff_rank_seed=True)
auto_scale_lr = dict(base_batch_size=batch_size)
