# G2SD specific distillation for COCO detection: Mask R-CNN with a ViT-S/16
# backbone initialised from the generic stage
# (g2sd_vit-small-p16_mae-vit-base_8xb256-amp-coslr-300e_in1k.py) and the
# ViTDet SimpleFPN neck, trained with its own losses plus the G2SD
# distillation from a frozen Mask R-CNN ViT-B/16 teacher. Official: 98.1 %
# of the teacher's box AP (not reproduced here: no GPU / COCO).
#
# Official recipe (G2SD_det_dis: mask_rcnn_vitdet_b2s_100ep.py, run.sh,
# tools/plain_distill_net.py): detectron2 ViTDet Mask R-CNN, 100 epochs,
# batch 64, AdamW lr 1e-4, wd 0.05, layer decay 0.7, drop path 0.1; on
# each of the 5 pyramid levels a 3x3 conv adapter on the student features,
# MSE to the teacher features (weight 0.001) and BCE between RPN
# objectness probabilities (weight 0.1), both weighted by the teacher's
# max objectness and ramped up over 500 iterations.
# Deviations: mmdet's Mask R-CNN 1x data pipeline (1333 x 800, flip) and a
# global-attention ViT instead of ViTDet's LSJ 1024 crops and windowed
# attention with relative positions; the teacher must be trained with the
# same layout (this config with arch='base' and an MAE ViT-B init).
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['projects.g2sd', 'projects.simple_fpn'],
                      allow_failed_imports=False)

backbone_norm = dict(type='LN2d', requires_grad=True)
model = dict(
    type='G2SDTwoStageDetector',
    backbone=dict(
        _delete_=True,
        type='mmpretrain.VisionTransformer',
        arch='deit-small',
        img_size=224,
        patch_size=16,
        drop_path_rate=0.1,
        out_type='featmap',
        init_cfg=dict(type='Pretrained', prefix='backbone.',
                      checkpoint='work_dirs/g2sd_vit-small-p16_mae-vit-base_'
                      '8xb256-amp-coslr-300e_in1k/epoch_300.pth')),
    neck=dict(
        _delete_=True,
        type='SimpleFPN',
        backbone_channel=384,
        in_channels=[96, 192, 384, 384],
        out_channels=256,
        num_outs=5,
        norm_cfg=backbone_norm),
    teacher=dict(
        type='MaskRCNN',
        data_preprocessor=dict(type='DetDataPreprocessor'),
        backbone=dict(type='mmpretrain.VisionTransformer', arch='base',
                      img_size=224, patch_size=16, out_type='featmap'),
        neck=dict(type='SimpleFPN', backbone_channel=768,
                  in_channels=[192, 384, 768, 768], out_channels=256,
                  num_outs=5, norm_cfg=backbone_norm),
        rpn_head={{_base_.model.rpn_head}},
        roi_head={{_base_.model.roi_head}},
        train_cfg={{_base_.model.train_cfg}},
        test_cfg={{_base_.model.test_cfg}},
        init_cfg=dict(type='Pretrained',
                      checkpoint='checkpoints/mask-rcnn_vit-base-p16_'
                      'simple-fpn_coco.pth')),
    num_levels=5,
    feat_channels=256,
    adapter_kernel=3,
    feat_weight=1e-3,
    score_weight=0.1,
    warmup_iters=500,
    save_teacher=False)

train_dataloader = dict(batch_size=8, num_workers=4)

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    constructor='mmpretrain.LearningRateDecayOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999),
                   weight_decay=0.05),
    paramwise_cfg=dict(
        layer_decay_rate=0.7,
        custom_keys={
            '.ln': dict(decay_mult=0.0),
            '.bias': dict(decay_mult=0.0),
            '.cls_token': dict(decay_mult=0.0),
            '.pos_embed': dict(decay_mult=0.0)
        }),
    clip_grad=dict(max_norm=1.0, norm_type=2))
max_epochs = 100
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
         end=250),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True,
         milestones=[88, 96], gamma=0.1)
]
train_cfg = dict(max_epochs=max_epochs)
auto_scale_lr = dict(enable=False, base_batch_size=64)
