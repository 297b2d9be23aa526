"""Deterministic generators of small datasets in real formats (COCO, ADE20K,
PASCAL VOC, Cityscapes, ImageNet, nuScenes, LAION captions, and the
patterns set for self-supervised pre-training) so that the real dataset classes,
pipelines and metrics run on them."""
from .ade20k import generate_ade20k
from .captions import generate_coco_captions
from .cityscapes import generate_cityscapes
from .coco import generate_coco
from .imagenet import generate_imagenet
from .laion import generate_laion
from .nuscenes import generate_nuscenes
from .ssl_patterns import generate_ssl_patterns
from .voc import generate_voc

GENERATORS = dict(coco=generate_coco, ade20k=generate_ade20k,
                  voc=generate_voc, cityscapes=generate_cityscapes,
                  imagenet=generate_imagenet, nuscenes=generate_nuscenes,
                  laion=generate_laion, ssl_patterns=generate_ssl_patterns)
# image (H, W) of the real datasets: typical COCO / ADE20K / VOC / ImageNet
# photos, Cityscapes frames, nuScenes cameras; ssl_patterns has no real
# counterpart: its own 40 x 40
REAL_SIZES = dict(coco=(480, 640), ade20k=(512, 683), voc=(375, 500),
                  cityscapes=(1024, 2048), imagenet=(375, 500),
                  nuscenes=(900, 1600), laion=(480, 640),
                  ssl_patterns=(40, 40))

__all__ = ['generate_coco', 'generate_coco_captions', 'generate_ade20k',
           'generate_voc', 'generate_cityscapes', 'generate_imagenet',
           'generate_nuscenes', 'generate_laion', 'generate_ssl_patterns',
           'GENERATORS', 'REAL_SIZES']
