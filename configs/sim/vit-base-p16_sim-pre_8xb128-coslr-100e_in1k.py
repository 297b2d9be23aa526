# ImageNet-1k fine-tuning of a SIM-pre-trained ViT-B/16
# (sim_vit-base-p16_8xb512-amp-coslr-1600e_in1k.py, or the official
# sim_base_1600ep_pretrain.pth through
# tools/model_converters/sim_to_visionplug.py). Official: 84.1 top-1
# (OpenGVLab/Siamese-Image-Modeling README; the released fine-tuned
# checkpoint evaluates 84.118); not reproduced here (no GPU / ImageNet).
#
# Official recipe (configs/finetune/dist_finetune_sim_base.sh,
# main_finetune.py, the MAE protocol): batch 1024 (8 GPUs x 128), 100 epochs,
# AdamW lr 2.5e-4 x 1024 / 256 = 1e-3, betas (0.9, 0.999), wd 0.05, layer
# decay 0.65, drop path 0.1, 5 warm-up epochs + cosine to 1e-6, label
# smoothing 0.1, RandAugment m9-mstd0.5-inc1, random erasing 0.25,
# mixup 0.8 / cutmix 1.0, global average pooling of the patch tokens + a
# LayerNorm (`out_type='avg_featmap'`, no final norm in SIM's encoder).
# mmpretrain's MAE fine-tuning config holds everything else.
_base_ = 'mmpretrain::mae/benchmarks/vit-base-p16_8xb128-coslr-100e_in1k.py'
custom_imports = dict(imports=['projects.sim'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        init_cfg=dict(type='Pretrained', checkpoint='',
                      prefix='backbone.')))

optim_wrapper = dict(optimizer=dict(lr=1e-3))
auto_scale_lr = dict(base_batch_size=1024)
