# Tiny FLIP on the synthetic COCO captions (make_synthetic.py coco, then
# projects.synthetic_data.captions.generate_coco_captions): a 4-layer ViT
# (96-d, 64 px, patch 8 -> 64 patches, 32 kept with mask_ratio 0.5) and a
# 2-layer causal text Transformer with a word tokenizer whose vocabulary is
# annotations/captions_vocab.txt; trains for real on CPU in a few minutes and
# reports image-text retrieval recall@k on the val captions.
# Real-size counterpart: flip_vit-base-p16_256xb256-mask50-amp-coslr-190k_laion400m.py.
_base_ = ['mmpretrain::_base_/default_runtime.py']
custom_imports = dict(imports=['projects.flip'], allow_failed_imports=False)

data_root = 'data/synthetic_coco/'
# built from the training captions; with another data root, also set
# --cfg-options train_dataloader.dataset.pipeline.2.vocab_file=... (and val)
vocab_file = data_root + 'annotations/captions_vocab.txt'
context_length = 40
img_size = 64
max_iters = 300
batch_size = 32

# no flips or crops: the captions name left/right/top/bottom positions
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(img_size, img_size)),
    dict(type='TokenizeCaption', vocab_file=vocab_file,
         context_length=context_length, mode='random'),
    dict(type='PackInputs', algorithm_keys=('text_tokens', )),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(img_size, img_size)),
    dict(type='TokenizeCaption', vocab_file=vocab_file,
         context_length=context_length, mode='all'),
    dict(type='PackInputs', algorithm_keys=('text_tokens', )),
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
        type='COCOCaptions',
        data_root=data_root,
        ann_file='annotations/captions_val2017.json',
        data_prefix='val2017/',
        test_mode=True,
        pipeline=test_pipeline))
val_evaluator = dict(type='ImageTextRetrieval', topk=(1, 5, 10))
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
        vocab_size=64,  # >= lines of the vocabulary file (46 here)
        context_length=context_length,
        width=64,
        num_layers=2,
        num_heads=4,
        eot_id=3))

optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.95),
                   weight_decay=0.2),
    # official: no weight decay on biases, norms, class token, pos-embeds
    paramwise_cfg=dict(
        norm_decay_mult=0., bias_decay_mult=0.,
        custom_keys={'cls_token': dict(decay_mult=0.),
                     'pos_embed': dict(decay_mult=0.),
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
