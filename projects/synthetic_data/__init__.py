"""Deterministic generators of small datasets in real formats (COCO, ADE20K,
ImageNet, nuScenes) so that the real dataset classes, pipelines and metrics run on them."""
from .ade20k import generate_ade20k
from .captions import generate_coco_captions
from .coco import generate_coco
from .imagenet import generate_imagenet
from .nuscenes import generate_nuscenes

GENERATORS = dict(coco=generate_coco, ade20k=generate_ade20k,
                  imagenet=generate_imagenet, nuscenes=generate_nuscenes)

__all__ = ['generate_coco', 'generate_coco_captions', 'generate_ade20k', 'generate_imagenet',
           'generate_nuscenes', 'GENERATORS']
