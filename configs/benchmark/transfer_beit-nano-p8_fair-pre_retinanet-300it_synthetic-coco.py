# Transfer protocol (tools/benchmark_transfer.py) of the tiny fair SSL
# benchmark's ViT + AdamW group, BEiTPretrainViT family (BEiT v2,
# MaskDistill): transfer_vit-nano-p8_fair-pre_retinanet-300it_synthetic-coco.py
# (same data, iterations, batch, optimiser, schedule, ViT shape at 128 px,
# anchors; its settings are inherited) with the backbone type changed to
# mmpretrain BEiTViT, set as the pre-training configs' BEiTPretrainViT:
# no absolute position embedding, one relative position bias shared by the
# blocks (use_shared_rel_pos_bias; the 5 x 5 window's table is resized to
# 16 x 16 on load, its index buffer regenerated), layer scale (init 0.1,
# the checkpoint's gamma_1 / gamma_2 load), q / v biases, LN eps 1e-6.
# final_norm=True as the MAEViT protocol: MaskDistill's final LayerNorm
# loads; BEiT v2 pre-trains without one (its neck takes the last blocks),
# so its ln1 starts at the LayerNorm default (weight 1, bias 0). The
# pre-training mask_token has no use downstream (unexpected key).
#
# Random-init baseline (the fair BEiT v2 config's model as the SSL
# benchmark initialises it, seed 0):
#   .venv/bin/python - <<'PY'
#   import torch
#   from mmengine.registry import init_default_scope
#   from projects.ssl_eval.benchmark import load_cfg, random_init_model
#   init_default_scope('mmpretrain')
#   cfg = load_cfg('configs/ssl_benchmark/beitv2_vit-nano-p8-tiny_fair_'
#                  '1xb32-1000it_synthetic-imagenet.py', 'data/ssl_patterns',
#                  '/tmp/random_init_beit', 0)
#   torch.save({'state_dict': random_init_model(cfg).state_dict()},
#              'work_dirs/ssl_transfer_v3_vit/random_init_beit.pth')
#   PY
# Run (seeds 0 1 2 of the fine-tuning; the seed-0 pre-trained checkpoints):
#   python tools/benchmark_transfer.py \
#       configs/benchmark/transfer_beit-nano-p8_fair-pre_retinanet-300it_synthetic-coco.py \
#       --pretrained random_init=work_dirs/ssl_transfer_v3_vit/random_init_beit.pth \
#       beitv2=work_dirs/ssl_benchmark_v3/beitv2/seed0/iter_1000.pth \
#       maskdistill=work_dirs/ssl_benchmark_v3/maskdistill/seed0/iter_1000.pth \
#       --seeds 0 1 2 --work-dir work_dirs/ssl_transfer_v3_beit
#
# The 5 x 5 table is resized by mmpretrain's resize_relative_position_bias_
# table, which calls scipy's interp2d (removed in SciPy 1.14):
# projects.stack_compat (imported by the tools) provides it again.
_base_ = './transfer_vit-nano-p8_fair-pre_retinanet-300it_synthetic-coco.py'

description = 'fair-benchmark ViT-nano p8 (BEiTPretrainViT family) -> ' \
    'RetinaNet SimpleFPN, synthetic COCO, 300 iterations'

# merged into the inherited settings (same keys win here)
settings = {
    'model.backbone.type': 'mmpretrain.BEiTViT',
    'model.backbone.use_abs_pos_emb': False,
    'model.backbone.use_rel_pos_bias': False,
    'model.backbone.use_shared_rel_pos_bias': True,
    'model.backbone.layer_scale_init_value': 0.1,
    'model.backbone.bias': 'qv_bias',
    'model.backbone.norm_cfg': dict(type='LN', eps=1e-6),
}
