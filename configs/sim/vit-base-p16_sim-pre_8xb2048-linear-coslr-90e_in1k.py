# Linear probe of a SIM-pre-trained ViT-B/16 on ImageNet-1k
# (sim_vit-base-p16_8xb512-amp-coslr-1600e_in1k.py, or the official
# sim_base_1600ep_pretrain.pth through
# tools/model_converters/sim_to_visionplug.py). Official: 78.0 top-1
# (OpenGVLab/Siamese-Image-Modeling README); not reproduced here (no GPU /
# ImageNet).
#
# Official recipe (configs/linprobe/dist_linprobe_sim_base.sh,
# main_linprobe.py, the MAE protocol with global pooling): frozen encoder,
# mean of the patch tokens -> LayerNorm (not in the checkpoint, so at its
# identity initialisation, frozen) -> BatchNorm without affine (eps 1e-6)
# -> Linear (trunc-normal std 0.01); batch 16384 (8 GPUs x 2048), LARS
# lr 0.1 x 16384 / 256 = 6.4, wd 0, momentum 0.9, 10 warm-up epochs +
# cosine to 0, 90 epochs; RandomResizedCrop(224, bicubic) + flip, test
# resize 256 (bicubic) + centre crop 224. The rest is mmpretrain's MAE
# linear-probe config.
_base_ = ('mmpretrain::mae/benchmarks/'
          'vit-base-p16_8xb2048-linear-coslr-90e_in1k.py')
custom_imports = dict(imports=['projects.sim'], allow_failed_imports=False)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224, backend='pillow',
         interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='short', backend='pillow',
         interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

model = dict(
    backbone=dict(
        out_type='avg_featmap',
        final_norm=False,
        init_cfg=dict(type='Pretrained', checkpoint='',
                      prefix='backbone.')))
auto_scale_lr = dict(base_batch_size=16384)
