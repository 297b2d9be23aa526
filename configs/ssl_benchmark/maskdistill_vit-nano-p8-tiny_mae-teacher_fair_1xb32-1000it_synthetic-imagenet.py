# MaskDistill (projects.maskdistill: a BEiT student regresses, at the
# block-masked positions, the LayerNorm'ed last-layer patch features of a
# frozen teacher, smooth-L1) in the tiny fair benchmark: ViT shape,
# schedule, batch, optimiser, crop and kNN evaluation come from the shared
# bases. The paper's teacher is CLIP-B/16; here it is the MAE of the same
# benchmark run and seed (the fair MAE config's backbone, same ViT shape),
# loaded from `teacher_checkpoint` (tools/analysis_tools/benchmark_ssl.py
# sets it; standalone: --cfg-options
# model.teacher.init_cfg.checkpoint=work_dirs/mae/iter_1000.pth).
# 10 of 25 patches masked (40 %, as the paper's 75 / 196).
_base_ = './_base_/fair-mim_tiny_synthetic-imagenet.py'
custom_imports = dict(imports=['projects.ssl_eval', 'projects.maskdistill'],
                      allow_failed_imports=False)

teacher_checkpoint = 'work_dirs/ssl_benchmark/mae/iter_1000.pth'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=40, crop_ratio_range=(0.2, 1.),
         backend='pillow', interpolation='bicubic'),  # the base's view
    dict(type='RandomFlip', prob=0.5),
    dict(type='BEiTMaskGenerator', input_size=({{_base_.grid}},
                                               {{_base_.grid}}),
         num_masking_patches=10, max_num_patches=10, min_num_patches=2),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

model = dict(
    type='MaskDistill',
    data_preprocessor={{_base_.selfsup_preprocessor}},
    backbone=dict(type='BEiTPretrainViT', arch={{_base_.mim_arch}},
                  img_size={{_base_.crop}},
                  patch_size={{_base_.patch_size}}, final_norm=True,
                  out_type='raw', use_shared_rel_pos_bias=True,
                  layer_scale_init_value=0.1),
    head=dict(type='MaskDistillHead', in_channels=64, out_channels=64,
              loss=dict(type='MaskedSmoothL1Loss', beta=2.0)),
    # MAE's encoder (MAEViT keys = VisionTransformer keys), unmasked
    teacher=dict(type='VisionTransformer', arch={{_base_.mim_arch}},
                 img_size={{_base_.crop}},
                 patch_size={{_base_.patch_size}}, final_norm=True,
                 out_type='raw',
                 init_cfg=dict(type='Pretrained',
                               checkpoint=teacher_checkpoint,
                               prefix='backbone.')),
    save_teacher=False)
