# G2SD specific distillation for ADE20K semantic segmentation: UPerNet on a
# ViT-S/16 initialised from the generic stage
# (g2sd_vit-small-p16_mae-vit-base_8xb256-amp-coslr-300e_in1k.py),
# trained 160k iterations with its own losses plus channel-wise
# distillation of the decode-head logits towards a frozen UPerNet MAE
# ViT-B teacher. Official: 99.3 % of the teacher's mIoU (not reproduced
# here: no GPU / ADE20K).
#
# Official recipe (G2SD_seg_dis: distill_cwd.py, run.sh): UPerNet, 512
# crops, out_indices (3, 5, 7, 11), AdamW lr 1e-4, wd 0.05, layer decay
# 0.65, 1500 warm-up iterations + poly, 160k iterations, 2 images per GPU,
# channel-wise divergence on decode_head.conv_seg logits, tau 1, weight 3.
# Teacher here: mmseg's UPerNet MAE ViT-B (48.13 mIoU, the base config
# below, its released weights). Student backbone: mmpretrain's
# VisionTransformer so that the generic-stage checkpoint loads with
# prefix 'backbone.' (the official student is a BEiT-style MAE ViT with
# relative position bias and layer scale; see projects/g2sd/README.md).
_base_ = 'mmseg::mae/mae-base_upernet_8xb2-amp-160k_ade20k-512x512.py'
custom_imports = dict(imports=['projects.g2sd'], allow_failed_imports=False)

crop_size = (512, 512)
norm_cfg = dict(type='SyncBN', requires_grad=True)
# mmseg's mae-base_upernet_8xb2-amp-160k_ade20k-512x512 (48.13 mIoU)
teacher = dict(
    type='EncoderDecoder',
    pretrained=None,
    backbone=dict(
        type='MAE', img_size=crop_size, patch_size=16, in_channels=3,
        embed_dims=768, num_layers=12, num_heads=12, mlp_ratio=4,
        out_indices=(3, 5, 7, 11), attn_drop_rate=0.0, drop_path_rate=0.1,
        norm_cfg=dict(type='LN', eps=1e-6), act_cfg=dict(type='GELU'),
        norm_eval=False, init_values=1.0),
    neck=dict(type='Feature2Pyramid', embed_dim=768,
              rescales=[4, 2, 1, 0.5]),
    decode_head=dict(
        type='UPerHead', in_channels=[768, 768, 768, 768],
        in_index=[0, 1, 2, 3], pool_scales=(1, 2, 3, 6), channels=768,
        dropout_ratio=0.1, num_classes=150, norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False,
                         loss_weight=1.0)),
    auxiliary_head=dict(
        type='FCNHead', in_channels=768, in_index=2, channels=256,
        num_convs=1, concat_input=False, dropout_ratio=0.1, num_classes=150,
        norm_cfg=norm_cfg, align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False,
                         loss_weight=0.4)),
    train_cfg=dict(),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(341, 341)),
    init_cfg=dict(
        type='Pretrained',
        checkpoint='https://download.openmmlab.com/mmsegmentation/v0.5/mae/'
        'upernet_mae-base_fp16_8x2_512x512_160k_ade20k/'
        'upernet_mae-base_fp16_8x2_512x512_160k_ade20k_20220426_174752-'
        'f92a2975.pth'))
model = dict(
    type='G2SDEncoderDecoder',
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='mmpretrain.VisionTransformer',
        arch='deit-small',
        img_size=crop_size,
        patch_size=16,
        out_indices=(3, 5, 7, 11),
        drop_path_rate=0.1,
        final_norm=False,
        out_type='featmap',
        init_cfg=dict(type='Pretrained', prefix='backbone.',
                      checkpoint='work_dirs/g2sd_vit-small-p16_mae-vit-base_'
                      '8xb256-amp-coslr-300e_in1k/epoch_300.pth')),
    neck=dict(embed_dim=384, rescales=[4, 2, 1, 0.5]),
    decode_head=dict(in_channels=[384, 384, 384, 384], num_classes=150,
                     channels=384),
    auxiliary_head=dict(in_channels=384, num_classes=150),
    teacher=teacher,
    distill_loss=dict(type='ChannelWiseDivergenceLoss', tau=1.0,
                      loss_weight=3.0),
    save_teacher=False)
