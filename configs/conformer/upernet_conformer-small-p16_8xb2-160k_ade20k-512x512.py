# UPerNet on Conformer-S/16 (CNN maps after blocks 4/8/11/12) on ADE20K,
# 512x512 crops, 160k iterations. The official repository has no
# segmentation code or number (issue #12).
_base_ = '../hiera/upernet_hiera-base_8xb2-160k_ade20k-512x512.py'
custom_imports = dict(imports=['projects.conformer'],
                      allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True, type='ConformerDense', arch='small', patch_size=16,
        out_indices=(4, 8, 11, 12), drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', prefix='backbone.',
                      checkpoint='checkpoints/conformer-small-p16_in1k.pth')),
    decode_head=dict(in_channels=[256, 512, 1024, 1024]),
    auxiliary_head=dict(in_channels=1024),
    test_cfg=dict(mode='whole'))
optim_wrapper = dict(
    paramwise_cfg=dict(_delete_=True,
                       custom_keys={'cls_token': dict(decay_mult=0.)}))
