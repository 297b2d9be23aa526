# G2SD generic distillation (Huang, Peng et al., CVPR 2023): MAE ViT-S/16
# student with a 256-d 4-block decoder, frozen MAE ViT-B/16 teacher (512-d
# 8-block decoder) cut after decoder block 4, on ImageNet-1k, 300 epochs.
# Official: after the specific stage ViT-S reaches 98.7 % of the ViT-B
# teacher's ImageNet top-1 (not reproduced here: no GPU / ImageNet).
#
# Official recipe (pengzhiliang/G2SD, GD.sh, main_distill.py,
# engine_distill.py): same random mask (ratio 0.75) for student and
# teacher, target = LayerNorm (no affine, eps 1e-6) of the teacher decoder
# hidden states after block 4 over all 197 tokens, student decoder output
# -> Linear(256, 512)-GELU-Linear(512, 512), Smooth-L1 beta 2.0; batch
# 256 x 8 GPUs x 2 accumulation = 4096, AdamW blr 1.5e-4 (lr = 2.4e-3 at
# 4096), betas (0.9, 0.95), wd 0.05 (none on norms/biases), 10 warm-up
# epochs + cosine to 2.5e-6 (per-iteration, min_lr default), no gradient
# clipping, MAE augmentation (RandomResizedCrop(0.2, 1) + flip).
#
# Teacher weights: mmpretrain's MAE ViT-B 1600-epoch checkpoint (encoder +
# decoder; keys backbone.* / neck.*), loaded by G2SDTeacher's init_cfg.
# The official teacher is the original MAE release, which these weights
# reproduce in mmpretrain's key layout.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs512_mae.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['projects.g2sd'], allow_failed_imports=False)

train_dataloader = dict(batch_size=256, num_workers=10)

model = dict(
    type='G2SD',
    backbone=dict(type='MAEViT', arch='deit-small', patch_size=16,
                  mask_ratio=0.75),
    neck=dict(type='MAEPretrainDecoder', patch_size=16, in_chans=3,
              embed_dim=384, decoder_embed_dim=256, decoder_depth=4,
              decoder_num_heads=8, mlp_ratio=4.),
    head=dict(type='G2SDHead', in_channels=256, out_channels=512,
              hidden_channels=512, beta=2.0, supervise_all=True),
    teacher=dict(
        type='G2SDTeacher',
        backbone=dict(type='MAEViT', arch='b', patch_size=16),
        neck=dict(type='MAEPretrainDecoder', patch_size=16, in_chans=3,
                  embed_dim=768, decoder_embed_dim=512, decoder_depth=8,
                  decoder_num_heads=16, mlp_ratio=4.),
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.openmmlab.com/mmselfsup/1.x/mae/'
            'mae_vit-base-p16_8xb512-fp16-coslr-1600e_in1k/'
            'mae_vit-base-p16_8xb512-fp16-coslr-1600e_in1k_20220825-'
            'f7569ca2.pth')),
    target_layer=4,
    target_eps=1e-6,
    save_teacher=False,
    init_cfg=[
        dict(type='Xavier', layer='Linear', distribution='uniform'),
        dict(type='Constant', layer='LayerNorm', val=1.0, bias=0.0)
    ])

# lr = 1.5e-4 * 4096 / 256; accumulative_counts=2 gives the official
# effective batch 4096 on 8 GPUs x 256
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    accumulative_counts=2,
    optimizer=dict(type='AdamW', lr=1.5e-4 * 4096 / 256, betas=(0.9, 0.95),
                   weight_decay=0.05),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        custom_keys={
            'pos_embed': dict(decay_mult=0.),
            'mask_token': dict(decay_mult=0.),
            'cls_token': dict(decay_mult=0.)
        }))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=10,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=290, eta_min=2.5e-6, by_epoch=True,
         begin=10, end=300, convert_to_iter_based=True)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=300)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=100),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3))
randomness = dict(seed=0, diff_rank_seed=True)
resume = True
auto_scale_lr = dict(base_batch_size=4096)
