# Transfer protocol (tools/benchmark_transfer.py) of the tiny fair SSL
# benchmark's ViT + AdamW group, MAEViT family (MAE, SIM, G2SD, FLIP; their
# MAEViT keys are mmpretrain VisionTransformer keys). BEiT v2 and
# MaskDistill pre-train a BEiTPretrainViT: see
# transfer_beit-nano-p8_fair-pre_retinanet-300it_synthetic-coco.py, this
# protocol with only the backbone type changed.
#
# Mirrors the ResNet group's protocol
# (transfer_resnet18-tiny_fair-pre_retinanet-300it_synthetic-coco.py): the
# same synthetic COCO (128 px; 240 train / 100 val images), 300 iterations
# of batch 4, every layer fine-tuned, COCO box mAP by pycocotools. The
# downstream model is the plain-ViT RetinaNet with SimpleFPN
# (configs/_base_/plain_vit/retinanet_vit_simple-fpn_tiny_1xb4-100it_synthetic-coco.py)
# with:
# - the fair ViT (configs/ssl_benchmark/_base_/fair-mim_tiny_synthetic-imagenet.py
#   `mim_arch`: 64-d, 4 layers, 4 heads, FFN 128, patch 8) at 128 px, i.e.
#   16 x 16 tokens (pre-trained at 40 px, 5 x 5: mmpretrain's ViT resizes
#   the checkpoint's pos_embed bicubically on load); final_norm as that
#   config (True): SIM pre-trains without the final LayerNorm, so its ln1
#   starts at the LayerNorm default (weight 1, bias 0), all other backbone
#   keys load;
# - anchor strides 2-32: SimpleFPN builds strides 1/4 .. 2x (and a max-pool
#   P6) of its input map, which is stride 8 here, not 16 (anchor sizes 8 to
#   ~200 px, the synthetic objects are 17-93 px);
# - the config's own AdamW (lr 1e-3, wd 0.05, none on 1-d parameters, grad
#   clip 10) with its schedule (10 % linear warm-up, cosine to 1e-5)
#   stretched from 100 to 300 iterations.
#
# Random-init baseline (the fair MAE config's model as the SSL benchmark
# initialises it, seed 0):
#   .venv/bin/python - <<'EOF'
#   import torch
#   from mmengine.registry import init_default_scope
#   from projects.ssl_eval.benchmark import load_cfg, random_init_model
#   init_default_scope('mmpretrain')
#   cfg = load_cfg('configs/ssl_benchmark/mae_vit-nano-p8-tiny_fair_'
#                  '1xb32-1000it_synthetic-imagenet.py', 'data/ssl_patterns',
#                  '/tmp/random_init_mae', 0)
#   torch.save({'state_dict': random_init_model(cfg).state_dict()},
#              'work_dirs/ssl_transfer_v3_vit/random_init_mae.pth')
#   EOF
# Run (seeds 0 1 2 of the fine-tuning; the seed-0 pre-trained checkpoints):
#   python tools/benchmark_transfer.py \
#       configs/benchmark/transfer_vit-nano-p8_fair-pre_retinanet-300it_synthetic-coco.py \
#       --pretrained random_init=work_dirs/ssl_transfer_v3_vit/random_init_mae.pth \
#       mae=work_dirs/ssl_benchmark_v3/mae/seed0/iter_1000.pth \
#       sim=work_dirs/ssl_benchmark_v3/sim/seed0/iter_1000.pth \
#       g2sd=work_dirs/ssl_benchmark_v3/g2sd/seed0/iter_1000.pth \
#       flip=work_dirs/ssl_benchmark_v3/flip/seed0/iter_1000.pth \
#       --seeds 0 1 2 --work-dir work_dirs/ssl_transfer_v3_vit
_base_ = './_base_/fair-pre_synthetic-coco-300it.py'

description = 'fair-benchmark ViT-nano p8 (MAEViT family) -> RetinaNet ' \
    'SimpleFPN, synthetic COCO, 300 iterations'

_iters = 300  # the base's iterations
_warmup = 30  # the config's 10 % (10 of 100 iterations)
# merged into the shared settings of the base
settings = {
    'param_scheduler': [
        dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
             end=_warmup),
        dict(type='CosineAnnealingLR', by_epoch=False, begin=0, end=_iters,
             eta_min=1e-5),
    ],
    # the fair ViT (mim_arch, patch 8) at 128 px: 16 x 16 tokens
    'model.backbone.arch': dict(embed_dims=64, num_layers=4, num_heads=4,
                                feedforward_channels=128),
    'model.backbone.img_size': 128,
    'model.backbone.patch_size': 8,
    'model.backbone.final_norm': True,
    'model.backbone.frozen_stages': -1,
    'model.neck.backbone_channel': 64,
    'model.neck.in_channels': [16, 32, 64, 64],
    # SimpleFPN of a stride-8 map: strides 2, 4, 8, 16 and P6 at 32
    'model.bbox_head.anchor_generator.strides': [2, 4, 8, 16, 32],
}

tasks = [
    dict(name='coco_det',
         config='configs/_base_/plain_vit/'
         'retinanet_vit_simple-fpn_tiny_1xb4-100it_synthetic-coco.py',
         metric='coco/bbox_mAP'),
]
