# Tiny FLIP on the synthetic COCO captions (make_synthetic.py coco, which
# also writes the captions files): a 4-layer ViT (96-d, 64 px, patch 8 -> 64
# patches, 32 kept with mask_ratio 0.5) and a 2-layer CLIP text tower (64-d)
# on CLIP's BPE tokens (32 positions, as FLIP); trains for real on CPU in a
# few minutes. Validation reports image-text retrieval recall@k on the val
# captions and zero-shot accuracy on the same val images, each labelled by
# its main category, with caption-style prompts (a stated choice; the
# real-size config uses CLIP's 80 ImageNet prompts).
# Real-size counterpart: flip_vit-base-p16_256xb256-mask50-amp-coslr-190k_laion400m.py.
_base_ = ['mmpretrain::_base_/default_runtime.py']
custom_imports = dict(imports=['projects.flip'], allow_failed_imports=False)

data_root = 'data/synthetic_coco/'
context_length = 32
# the synthetic categories (make_synthetic.py coco --num-classes 4)
classes = ('person', 'car', 'dog', 'bottle')
img_size = 64
max_iters = 300
batch_size = 32

# no flips or crops: the captions name left/right/top/bottom positions
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(img_size, img_size)),
    dict(type='TokenizeCaption', context_length=context_length,
         mode='random'),
    dict(type='PackInputs', algorithm_keys=('text_tokens', )),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(img_size, img_size)),
    dict(type='TokenizeCaption', context_length=context_length, mode='all'),
    dict(type='PackInputs', algorithm_keys=('text_tokens', )),
]
zero_shot_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(img_size, img_size)),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=batch_size,
    num_workers=2,
    persistent_workers=True,
    drop_last=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='COCOCaptions',
        data_root=data_root,
        ann_file='annotations/captions_train2017.json',
        data_prefix='train2017/',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=50,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='ConcatDataset',
        ignore_keys=['classes'],
        datasets=[
            dict(type='COCOCaptions',
                 data_root=data_root,
                 ann_file='annotations/captions_val2017.json',
                 data_prefix='val2017/',
                 test_mode=True,
                 pipeline=test_pipeline),
            dict(type='COCOMainCategory',
                 data_root=data_root,
                 ann_file='annotations/instances_val2017.json',
                 data_prefix='val2017/',
                 metainfo=dict(classes=classes),
                 pipeline=zero_shot_pipeline),
        ]))
val_evaluator = [
    dict(type='ImageTextRetrieval', topk=(1, 5, 10)),
    dict(type='ZeroShotAccuracy', topk=(1, )),
]
test_dataloader = val_dataloader
test_evaluator = val_evaluator

model = dict(
    type='FLIP',
    embed_dims=64,
    mask_ratio=0.5,
    data_preprocessor=dict(
        type='SelfSupDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    backbone=dict(
        type='MAEViT',
        arch=dict(embed_dims=96, num_layers=4, num_heads=4,
                  feedforward_channels=192),
        img_size=img_size,
        patch_size=8),
    text_encoder=dict(
        type='CausalTextTransformer',
        context_length=context_length,
        width=64,
        num_layers=2,
        num_heads=4),
    zero_shot_classes=classes,
    zero_shot_templates=('a {}.', 'a large {} in the center of the image.'))

optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.95),
                   weight_decay=0.2),
    # official: no weight decay on biases, norms, class token, pos-embeds
    paramwise_cfg=dict(
        norm_decay_mult=0., bias_decay_mult=0.,
        custom_keys={'cls_token': dict(decay_mult=0.),
                     'pos_embed': dict(decay_mult=0.),
                     'positional_embedding': dict(decay_mult=0.),
                     'in_proj_bias': dict(decay_mult=0.)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0,
         end=30),
    dict(type='CosineAnnealingLR', T_max=max_iters - 30, eta_min=0.,
         by_epoch=False, begin=30, end=max_iters),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=max_iters)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=25),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=max_iters,
                    max_keep_ckpts=1))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
auto_scale_lr = dict(enable=False, base_batch_size=batch_size)
