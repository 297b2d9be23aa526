# UPerNet on Rev-ViT-S through SimpleFPN (four levels, strides 4-32) on
# ADE20K, 512x512 crops, 160k iterations. No official RevViT segmentation
# number exists.
_base_ = '../hiera/upernet_hiera-base_8xb2-160k_ade20k-512x512.py'
custom_imports = dict(imports=['projects.revvit', 'projects.simple_fpn'],
                      allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True, type='RevViT', arch='deit-small', img_size=512,
        out_type='featmap', drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', prefix='backbone.',
                      checkpoint='checkpoints/revvit-small_in1k.pth')),
    neck=dict(type='SimpleFPN', backbone_channel=768,
              in_channels=[192, 384, 768, 768], out_channels=768,
              num_outs=4),
    decode_head=dict(in_channels=[768, 768, 768, 768]),
    auxiliary_head=dict(in_channels=768),
    test_cfg=dict(mode='whole'))
