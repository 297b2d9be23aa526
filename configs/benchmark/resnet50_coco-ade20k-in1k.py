# Real-size transfer protocol for ResNet-50 pre-training (GPU cluster): the
# standard downstream recipes of mmdet, mmseg, mmpretrain and BEVFormer v2
# with the pre-trained weights in the model's backbone (prefix 'backbone.',
# i.e. a full pre-training checkpoint such as MoCo v2 / BYOL from
# mmpretrain):
#   python tools/benchmark_transfer.py configs/benchmark/resnet50_coco-ade20k-in1k.py \
#       --pretrained mocov2=work_dirs/mocov2/epoch_200.pth \
#       --launcher slurm --partition gpu --gpus 8
# Another backbone family: --pretrained <zoo pre-training entry>=CKPT swaps
# that entry's backbone into the detection, segmentation and kNN configs
# (tools/zoo.py derive); the linear and BEV tasks then need a checkpoint
# whose backbone fits their R-50.
# Data: data/coco, data/ade/ADEChallengeData2016, data/imagenet (meta/
# {train,val}.txt) and data/nuscenes with our infos files
# (tools/dataset_converters/create_nuscenes_infos.py, see
# projects/bevformer_v2/DATA.md).
description = 'ResNet-50: COCO RetinaNet 1x, ADE20K UPerNet 80k, ' \
    'ImageNet kNN (k=20) and linear probe 100e, nuScenes BEVFormer v2 24e'
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
    # evaluation only: frozen backbone, bank = ImageNet train, no training
    dict(name='in1k_knn',
         config='configs/benchmark/tasks/knn_resnet50_headless_8xb256_in1k.py',
         metric='knn/top1'),
    dict(name='in1k_linear',
         config='mmpretrain::mocov2/benchmarks/'
         'resnet50_8xb32-linear-steplr-100e_in1k.py',
         metric='accuracy/top1'),
    # BEVFormer v2 R-50, single frame, 24 epochs (official NDS 42.57 from
    # FCOS COCO weights); the SSL checkpoint is a pytorch-style R-50 with
    # ImageNet RGB normalisation, where the recipe's FCOS one is caffe style
    dict(name='nus_bev',
         config='configs/bevformer_v2/bevformer-v2_r50_t1-base_16xb1-24e_nuscenes.py',
         metric='nuscenes/NDS',  # model.img_backbone (found)
         settings={'model.img_backbone.style': 'pytorch',
                   'model.data_preprocessor.mean': [123.675, 116.28, 103.53],
                   'model.data_preprocessor.std': [58.395, 57.12, 57.375],
                   'model.data_preprocessor.bgr_to_rgb': True}),
]
