# UPerNet with RevCol-T (ImageNet-1k pretrained) on ADE20K, the official
# segmentation recipe (Segmentation/configs/revcol/upernet_revcol_tiny_fp16_
# 512x512_160k_ade20k.py): 160k iterations, 8 GPUs x 2, 512x512 crops,
# AdamW lr 6e-5, weight decay 0.01 (layer decay 1.0, i.e. none), linear
# warm-up 1500 iterations then poly (power 1), drop path 0.3, fp16, slide
# inference, FCN auxiliary head on level 2, plain backward.
# Official: 47.4 mIoU single-scale / 47.6 multi-scale.
_base_ = 'mmseg::convnext/convnext-tiny_upernet_8xb2-amp-160k_ade20k-512x512.py'  # noqa
custom_imports = dict(imports=['projects.revcol'], allow_failed_imports=False)

checkpoint_file = 'checkpoints/revcol-t_in1k_visionplug.pth'
channels = [64, 128, 256, 512]
model = dict(
    backbone=dict(
        _delete_=True,
        type='RevCol',
        arch='t',
        drop_path_rate=0.3,
        save_memory=False,
        out_indices=(0, 1, 2, 3),
        init_cfg=dict(
            type='Pretrained', checkpoint=checkpoint_file,
            prefix='backbone.')),
    decode_head=dict(in_channels=channels),
    auxiliary_head=dict(in_channels=channels[2]))

# The official constructor with decay 1.0: no lr decay; no weight decay for
# 1-D parameters, biases and alpha.
optim_wrapper = dict(
    _delete_=True,
    type='AmpOptimWrapper',
    constructor='RevColLayerDecayOptimizerConstructor',
    paramwise_cfg=dict(decay_rate=1.0),
    optimizer=dict(
        type='AdamW', lr=6e-5, betas=(0.9, 0.999), weight_decay=0.01),
    loss_scale='dynamic')
