# Mask R-CNN on Rev-ViT-B through SimpleFPN (ViTDet neck: one stride-16 map
# of 2 x 768 channels -> strides 4-64), COCO 1x. The RevViT paper reports
# COCO only for Rev-MViT (not reproduced here); no official number for
# this model.
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['projects.revvit', 'projects.simple_fpn'],
                      allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True, type='RevViT', arch='deit-base', img_size=224,
        out_type='featmap', drop_path_rate=0.1,
        # converted official weights (revvit_to_visionplug.py)
        init_cfg=dict(type='Pretrained', prefix='backbone.',
                      checkpoint='checkpoints/revvit-base_in1k.pth')),
    neck=dict(_delete_=True, type='SimpleFPN', backbone_channel=1536,
              in_channels=[384, 768, 1536, 1536], out_channels=256,
              num_outs=5))

optim_wrapper = dict(
    _delete_=True, type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.1),
    paramwise_cfg=dict(custom_keys={'pos_embed': dict(decay_mult=0.),
                                    'norm': dict(decay_mult=0.),
                                    'ln': dict(decay_mult=0.)}))
