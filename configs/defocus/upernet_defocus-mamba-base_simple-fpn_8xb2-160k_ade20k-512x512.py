# UPerNet with a De-focus Mamba-Base backbone and SimpleFPN (strides 4..32)
# on ADE20K, 512x512 crops, 160k iterations (mmseg's ViT-UPerNet recipe:
# AdamW 6e-5, wd 0.01, poly decay, 1500 warm-up iterations). The paper has
# no segmentation results; this recipe is ours (not trained here). Windows
# of 16 tokens (256 px) and step-size / position scales by the official
# rule (resolution ratio 512 / 224 = 2.29 and its square 5.2). Inference
# slides 512x512 windows, so every backbone input is a multiple of 16.
_base_ = [
    'mmseg::_base_/models/upernet_r50.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_160k.py',
]
custom_imports = dict(imports=['projects.defocus', 'projects.simple_fpn'],
                      allow_failed_imports=False)

crop_size = (512, 512)
norm_cfg = dict(type='SyncBN', requires_grad=True)
pretrained = None  # a converted official checkpoint
model = dict(
    data_preprocessor=dict(size=crop_size),
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='DefocusMamba',
        arch='base',
        patch_size=16,
        out_type='featmap',
        window_size=16,
        delta_scale_factor=2.29,
        rope_scale_factor=5.2,
        drop_path_rate=0.3,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained,
                      prefix='backbone.') if pretrained else None),
    neck=dict(
        type='SimpleFPN',
        backbone_channel=768,
        in_channels=[192, 384, 768, 768],
        out_channels=768,
        num_outs=4,
        norm_cfg=dict(type='LN2d', requires_grad=True)),
    decode_head=dict(in_channels=[768, 768, 768, 768], channels=512,
                     num_classes=150, norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=768, in_index=2, num_classes=150,
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
        custom_keys={'cls_token': dict(decay_mult=0.0)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0,
         end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1500, end=160000,
         by_epoch=False)
]
train_dataloader = dict(batch_size=2)
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader
