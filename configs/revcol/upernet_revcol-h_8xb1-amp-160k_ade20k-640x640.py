# UPerNet with RevCol-H (MegData-168M pre-trained, 3x3 kernels zero-padded
# to 7x7) on ADE20K, the official recipe (Segmentation/configs/revcol/
# upernet_revcol_huge_fp16_640x640_160k_ade20k.py): 160k iterations, 8 GPUs
# x 1, 640x640 crops, AdamW lr 4e-5, weight decay 0.01, layer decay 0.9,
# linear warm-up 3000 iterations then poly (power 1), drop path 0.3, fp16,
# kernel 7, UPerHead with 1440 channels, FCN auxiliary head on level 2,
# slide inference (640, stride 426), plain backward (save_memory=False).
# Official: 57.8 mIoU single-scale / 58.0 multi-scale, 2421M parameters.
# The released config names types its own Segmentation code does not
# register ('FullNet', 'LearningRateDecayOptimizerConstructorGLOM'); its
# base file and the released 'revcol_huge_k7padded' weights are RevCol_Huge
# (extra c3 -> level 0 branch), i.e. RevCol(arch='h') here.
# Weights: tools/model_converters/revcol_to_visionplug.py
#   revcol_huge_k7padded.pth checkpoints/revcol-h_megdata_k7_visionplug.pth --arch h
_base_ = 'mmseg::convnext/convnext-large_upernet_8xb2-amp-160k_ade20k-640x640.py'  # noqa
custom_imports = dict(imports=['projects.revcol'], allow_failed_imports=False)

checkpoint_file = 'checkpoints/revcol-h_megdata_k7_visionplug.pth'
channels = [360, 720, 1440, 2880]
model = dict(
    backbone=dict(
        _delete_=True,
        type='RevCol',
        arch='h',  # kernel 7 and the extra up branch
        drop_path_rate=0.3,
        save_memory=False,
        out_indices=(0, 1, 2, 3),
        init_cfg=dict(
            type='Pretrained', checkpoint=checkpoint_file,
            prefix='backbone.')),
    decode_head=dict(in_channels=channels, channels=1440),
    auxiliary_head=dict(in_channels=channels[2]))

optim_wrapper = dict(
    _delete_=True,
    type='AmpOptimWrapper',
    constructor='RevColLayerDecayOptimizerConstructor',
    paramwise_cfg=dict(decay_rate=0.9),
    optimizer=dict(
        type='AdamW', lr=4e-5, betas=(0.9, 0.999), weight_decay=0.01),
    loss_scale='dynamic')

param_scheduler = [
    dict(
        type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0,
        end=3000),
    dict(
        type='PolyLR',
        power=1.0,
        begin=3000,
        end=160000,
        eta_min=0.0,
        by_epoch=False,
    )
]

train_dataloader = dict(batch_size=1)
