# Real-size transfer protocol for ResNet-50 pre-training (GPU cluster): the
# standard downstream recipes of mmdet, mmseg and mmpretrain with the
# pre-trained weights in model.backbone (prefix 'backbone.', i.e. a full
# pre-training checkpoint such as MoCo v2 / BYOL from mmpretrain):
#   python tools/benchmark_transfer.py configs/benchmark/resnet50_coco-ade20k-in1k.py \
#       --pretrained mocov2=work_dirs/mocov2/epoch_200.pth \
#       --launcher slurm --partition gpu --gpus 8
# Another backbone family: --pretrained <zoo pre-training entry>=CKPT swaps
# that entry's backbone into every task config (tools/zoo.py derive).
# nuScenes BEV: add dict(name='nus_bev', config=<BEVFormer v2 zoo entry>,
# metric='NuScenes metric/pred_instances_3d_NuScenes/NDS') once it exists.
description = 'ResNet-50: COCO RetinaNet 1x, ADE20K UPerNet 80k, ' \
    'ImageNet linear probe 100e'
pretrained_prefix = 'backbone.'

# equalised across tasks and pre-trained checkpoints
settings = {
    'randomness.seed': 0,
    'randomness.deterministic': False,
}

tasks = [
    dict(name='coco_det', config='mmdet::retinanet/retinanet_r50_fpn_1x_coco.py',
         metric='coco/bbox_mAP',
         settings={'model.backbone.norm_cfg.type': 'SyncBN',
                   'model.backbone.norm_eval': False}),
    dict(name='ade20k_seg',
         config='mmseg::upernet/upernet_r50_4xb4-80k_ade20k-512x512.py',
         metric='mIoU'),
    dict(name='in1k_linear',
         config='mmpretrain::mocov2/benchmarks/'
         'resnet50_8xb32-linear-steplr-100e_in1k.py',
         metric='accuracy/top1'),
]
