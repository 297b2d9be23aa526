"""Deterministic generators of small datasets in real formats (COCO, ADE20K,
ImageNet) so that the real dataset classes, pipelines and metrics run on them."""
from .ade20k import generate_ade20k
from .coco import generate_coco
from .imagenet import generate_imagenet

GENERATORS = dict(coco=generate_coco, ade20k=generate_ade20k,
                  imagenet=generate_imagenet)

__all__ = ['generate_coco', 'generate_ade20k', 'generate_imagenet',
           'GENERATORS']
