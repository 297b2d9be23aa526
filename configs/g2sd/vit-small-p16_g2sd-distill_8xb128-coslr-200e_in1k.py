# G2SD specific distillation for ImageNet-1k classification: ViT-S/16
# initialised from the generic stage
# (g2sd_vit-small-p16_mae-vit-base_8xb256-amp-coslr-300e_in1k.py) and
# fine-tuned for 200 epochs with a distillation token against the frozen
# fine-tuned MAE ViT-B/16 teacher. Official: 98.7 % of the teacher's top-1
# (not reproduced here: no GPU / ImageNet).
#
# Official recipe (SD.sh, main_finetune_dis.py, engine_finetune_dis.py):
# batch 128 x 8, blr 1e-3 (lr = 4e-3 at 1024), layer decay 0.75, wd 0.05,
# drop path 0, 5 warm-up epochs + cosine to 1e-6, RandAugment m9-mstd0.5,
# random erasing 0.25, mixup 0.8 / cutmix 1.0 (label smoothing 0.1), cls
# token (no global pool) for the student, global-pool ViT-B teacher;
# loss = (L_gt(cls head) + CE(dist head, argmax teacher)) / 2; test logits
# = mean of both heads.
_base_ = 'mmpretrain::mae/benchmarks/vit-base-p16_8xb128-coslr-100e_in1k.py'
custom_imports = dict(imports=['projects.g2sd'], allow_failed_imports=False)

model = dict(
    _delete_=True,
    type='G2SDImageClassifier',
    backbone=dict(
        type='G2SDDistilledViT',
        arch='deit-small',
        img_size=224,
        patch_size=16,
        drop_path_rate=0.0,
        final_norm=True,
        init_cfg=dict(type='Pretrained', prefix='backbone.',
                      checkpoint='work_dirs/g2sd_vit-small-p16_mae-vit-base_'
                      '8xb256-amp-coslr-300e_in1k/epoch_300.pth')),
    neck=None,
    head=dict(
        type='G2SDDistillClsHead',
        num_classes=1000,
        in_channels=384,
        distill_type='hard',
        distill_weight=0.5,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1,
                  mode='original'),
        init_cfg=[dict(type='TruncNormal', layer='Linear', std=2e-5)]),
    # mmpretrain's MAE ViT-B/16 fine-tuned on ImageNet (83.5 top-1 in
    # mmpretrain's metafile)
    teacher=dict(
        type='ImageClassifier',
        backbone=dict(type='VisionTransformer', arch='base', img_size=224,
                      patch_size=16, out_type='avg_featmap',
                      final_norm=False),
        neck=None,
        head=dict(type='LinearClsHead', num_classes=1000, in_channels=768),
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.openmmlab.com/mmselfsup/1.x/mae/'
            'mae_vit-base-p16_8xb512-fp16-coslr-1600e_in1k/'
            'vit-base-p16_ft-8xb128-coslr-100e_in1k/'
            'vit-base-p16_ft-8xb128-coslr-100e_in1k_20220825-cf70aa21.pth')),
    save_teacher=False,
    data_preprocessor=dict(
        num_classes=1000,
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.8),
        dict(type='CutMix', alpha=1.0)
    ]))

optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-3 * 1024 / 256, weight_decay=0.05,
                   betas=(0.9, 0.999)),
    constructor='LearningRateDecayOptimWrapperConstructor',
    paramwise_cfg=dict(
        layer_decay_rate=0.75,
        custom_keys={
            '.ln': dict(decay_mult=0.0),
            '.bias': dict(decay_mult=0.0),
            '.cls_token': dict(decay_mult=0.0),
            '.dist_token': dict(decay_mult=0.0),
            '.pos_embed': dict(decay_mult=0.0)
        }))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=195, by_epoch=True, begin=5,
         end=200, eta_min=1e-6, convert_to_iter_based=True)
]
train_cfg = dict(by_epoch=True, max_epochs=200)
auto_scale_lr = dict(base_batch_size=1024)
