# Transfer protocol (tools/benchmark_transfer.py) of the tiny fair SSL
# benchmark's ResNet + SGD group: the pre-trained ResNet-18 at 1/4 width
# (configs/ssl_benchmark/_base_/fair_tiny_synthetic-imagenet.py, widths
# 16-32-64-128) under RetinaNet with a 128-d FPN on synthetic COCO
# (128 px; 240 train / 100 val images), every layer fine-tuned
# (frozen_stages=-1, BN trained, as the fair benchmark's detection
# transfer), 300 iterations of batch 4 (the detection config's own AdamW
# schedule); COCO box mAP by pycocotools. Run with seeds:
#   python tools/benchmark_transfer.py \
#       configs/benchmark/transfer_resnet18-tiny_fair-pre_retinanet-300it_synthetic-coco.py \
#       --pretrained byol=work_dirs/ssl_benchmark/byol/seed0/iter_200.pth \
#       --seeds 0 1 2
_base_ = './_base_/fair-pre_synthetic-coco-300it.py'

description = 'fair-benchmark ResNet-18 (1/4 width) -> RetinaNet, ' \
    'synthetic COCO, 300 iterations'

# merged into the shared settings of the base
settings = {
    'model.backbone.stem_channels': 16,
    'model.backbone.base_channels': 16,
    'model.backbone.frozen_stages': -1,
    'model.backbone.norm_eval': False,
    'model.neck.in_channels': [16, 32, 64, 128],
}

tasks = [
    dict(name='coco_det',
         config='configs/retinanet/'
         'retinanet_r18_fpn_tiny_1xb4-300it_synthetic-coco.py',
         metric='coco/bbox_mAP'),
]
