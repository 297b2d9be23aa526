# G2SD generic distillation (projects.g2sd: a MAE student predicts,
# through an MLP, the LayerNorm'ed decoder hidden states of a frozen MAE
# teacher under the same mask) in the tiny fair benchmark: ViT shape,
# schedule, batch, optimiser, crop and kNN evaluation come from the shared
# bases. The teacher is the MAE of the same benchmark run and seed (the
# fair MAE config: same ViT shape, 1-block 32-d decoder), loaded from
# `teacher_checkpoint` (tools/analysis_tools/benchmark_ssl.py sets it;
# standalone: --cfg-options model.teacher.init_cfg.checkpoint=...).
# Target = teacher decoder block 1 (its only one); 75 % masked as MAE.
_base_ = './_base_/fair-mim_tiny_synthetic-imagenet.py'
custom_imports = dict(imports=['projects.ssl_eval', 'projects.g2sd'],
                      allow_failed_imports=False)

teacher_checkpoint = 'work_dirs/ssl_benchmark/mae/iter_1000.pth'
mae_decoder = dict(type='MAEPretrainDecoder',
                   num_patches={{_base_.num_patches}},
                   patch_size={{_base_.patch_size}}, in_chans=3,
                   embed_dim=64, decoder_embed_dim=32, decoder_depth=1,
                   decoder_num_heads=4, mlp_ratio=4)
mae_backbone = dict(type='MAEViT', arch={{_base_.mim_arch}},
                    img_size={{_base_.crop}},
                    patch_size={{_base_.patch_size}}, mask_ratio=0.75)
model = dict(
    type='G2SD',
    data_preprocessor={{_base_.selfsup_preprocessor}},
    backbone=mae_backbone,
    neck=mae_decoder,
    head=dict(type='G2SDHead', in_channels=32, out_channels=32, beta=2.0,
              supervise_all=True),
    teacher=dict(type='G2SDTeacher', backbone=mae_backbone,
                 neck=mae_decoder,
                 init_cfg=dict(type='Pretrained',
                               checkpoint=teacher_checkpoint)),
    target_layer=1,
    save_teacher=False,
    init_cfg=[
        dict(type='Xavier', layer='Linear', distribution='uniform'),
        dict(type='Constant', layer='LayerNorm', val=1.0, bias=0.0)
    ])
