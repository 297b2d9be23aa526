# Tiny CPU check of G2SD specific distillation for segmentation: a UPerNet
# student on a nano ViT (32-d, patch 16) + SimpleFPN is trained with its
# own losses plus channel-wise distillation (tau 1, weight 3) of its decode
# head logits towards a randomly initialised, frozen UPerNet teacher on a
# 48-d nano ViT, on synthetic ADE20K (128 px crops). Real-data
# counterpart: upernet_vit-small-p16_g2sd-distill_8xb2-160k_ade20k-512x512.py.
_base_ = [
    'mmseg::_base_/models/upernet_r50.py',
    '../_base_/datasets/synthetic_ade20k.py',
    'mmseg::_base_/default_runtime.py',
]
custom_imports = dict(imports=['projects.g2sd', 'projects.simple_fpn'],
                      allow_failed_imports=False)

max_iters = 40
crop_size = (128, 128)
norm_cfg = dict(type='BN', requires_grad=True)
data_preprocessor = dict(
    type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_val=0,
    seg_pad_val=255, size=crop_size, test_cfg=dict(size_divisor=16))


decode_head = dict(
    type='UPerHead', in_channels=[32, 32, 32, 32], in_index=[0, 1, 2, 3],
    pool_scales=(1, 2, 3, 6), channels=32, dropout_ratio=0.1,
    num_classes=150, norm_cfg=norm_cfg, align_corners=False,
    loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False,
                     loss_weight=1.0))
auxiliary_head = dict(
    type='FCNHead', in_channels=32, in_index=2, channels=32, num_convs=1,
    concat_input=False, dropout_ratio=0.1, num_classes=150,
    norm_cfg=norm_cfg, align_corners=False,
    loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False,
                     loss_weight=0.4))
model = dict(
    _delete_=True,
    type='G2SDEncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(type='mmpretrain.VisionTransformer',
                  arch=dict(embed_dims=32, num_layers=2, num_heads=2,
                            feedforward_channels=128),
                  img_size=128, patch_size=16, out_type='featmap'),
    neck=dict(type='SimpleFPN', backbone_channel=32,
              in_channels=[8, 16, 32, 32], out_channels=32, num_outs=4,
              norm_cfg=dict(type='LN2d', requires_grad=True)),
    decode_head=decode_head,
    auxiliary_head=auxiliary_head,
    train_cfg=dict(),
    test_cfg=dict(mode='whole'),
    # random frozen stand-in for the fine-tuned teacher segmentor
    teacher=dict(
        type='EncoderDecoder',
        backbone=dict(type='mmpretrain.VisionTransformer',
                      arch=dict(embed_dims=48, num_layers=2, num_heads=2,
                                feedforward_channels=192),
                      img_size=128, patch_size=16, out_type='featmap'),
        neck=dict(type='SimpleFPN', backbone_channel=48,
                  in_channels=[12, 24, 48, 48], out_channels=32, num_outs=4,
                  norm_cfg=dict(type='LN2d', requires_grad=True)),
        decode_head=decode_head,
        auxiliary_head=auxiliary_head,
        train_cfg=dict(),
        test_cfg=dict(mode='whole')),
    distill_loss=dict(type='ChannelWiseDivergenceLoss', tau=1.0,
                      loss_weight=3.0),
    save_teacher=False)

train_dataloader = dict(batch_size=4, num_workers=2, persistent_workers=True)
val_dataloader = dict(batch_size=8, num_workers=2, persistent_workers=True)
test_dataloader = val_dataloader

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.01),
    paramwise_cfg=dict(flat_decay_mult=0.0))
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-5, power=1.0, begin=0, end=max_iters,
         by_epoch=False)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10, log_metric_by_epoch=False),
    checkpoint=dict(type='CheckpointHook', by_epoch=False,
                    interval=max_iters, max_keep_ckpts=1))
randomness = dict(seed=0)
