# UPerNet with a plain ViT-B backbone and the SimpleFPN neck (strides 4-32)
# on ADE20K, 160k iterations at 512x512 (8 GPUs x 2 images, AdamW). Shared
# by the plain-ViT backbones: they swap model.backbone.type / arch, set
# embed_dims and the neck's backbone_channel / in_channels.
_base_ = [
    'mmseg::_base_/models/upernet_r50.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_160k.py',
]
custom_imports = dict(imports=['projects.simple_fpn'],
                      allow_failed_imports=False)

crop_size = (512, 512)
embed_dims = 768
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    # pad test images to a multiple of the patch size
    data_preprocessor=dict(size=crop_size, test_cfg=dict(size_divisor=16)),
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='mmpretrain.VisionTransformer',
        arch='base',
        img_size=512,
        patch_size=16,
        drop_path_rate=0.1,
        out_type='featmap',
        init_cfg=None),
    neck=dict(
        type='SimpleFPN',
        backbone_channel=embed_dims,
        in_channels=[embed_dims // 4, embed_dims // 2, embed_dims, embed_dims],
        out_channels=256,
        num_outs=4,
        norm_cfg=dict(type='LN2d', requires_grad=True)),
    decode_head=dict(in_channels=[256, 256, 256, 256], channels=512,
                     num_classes=150, norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=256, channels=256, num_classes=150,
                        norm_cfg=norm_cfg),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(341, 341)))

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=6e-5, betas=(0.9, 0.999),
                   weight_decay=0.01),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        flat_decay_mult=0.0,
        custom_keys={
            '.cls_token': dict(decay_mult=0.0),
            '.pos_embed': dict(decay_mult=0.0)
        }))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0,
         end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1500, end=160000,
         by_epoch=False)
]
train_dataloader = dict(batch_size=2)
