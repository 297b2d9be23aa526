"""Synthetic detection/instance-segmentation data in the COCO format.

Layout written under ``out``::

    annotations/instances_train2017.json  annotations/instances_val2017.json
    annotations/captions_train2017.json   annotations/captions_val2017.json
    train2017/000000000001.jpg ...        val2017/000000100001.jpg ...

The category table is the real COCO one (80 classes, official ids 1..90), so
mmdet's ``CocoDataset`` and ``CocoMetric`` read it with their default metainfo;
only the first ``num_classes`` entries of ``DRAWN`` get instances. Each class is
a shape with its own hue; instances vary in scale, aspect and rotation, may be
truncated by the border and occluded by later ones, and are annotated with the
polygons of their visible part.
"""
import json
from pathlib import Path

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from .painting import (background, hsv_color, image_rng, paste, shape_mask,
                       texture, to_uint8, write_image)

COCO_IDS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20,
            21, 22, 23, 24, 25, 27, 28, 31, 32, 33, 34, 35, 36, 37, 38, 39,
            40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57,
            58, 59, 60, 61, 62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78,
            79, 80, 81, 82, 84, 85, 86, 87, 88, 89, 90)
# (first id, supercategory) ranges of the official table.
SUPERCATEGORIES = ((1, 'person'), (2, 'vehicle'), (10, 'outdoor'),
                   (16, 'animal'), (27, 'accessory'), (34, 'sports'),
                   (44, 'kitchen'), (52, 'food'), (62, 'furniture'),
                   (72, 'electronic'), (78, 'appliance'), (84, 'indoor'))
# Drawn classes in order: (COCO name, shape, hue in degrees).
DRAWN = (('person', 'ellipse', 0), ('car', 'rectangle', 120),
         ('dog', 'triangle', 220), ('bottle', 'star', 55),
         ('chair', 'cross', 290), ('clock', 'hexagon', 175))
SPLITS = {'train': ('train2017', 1), 'val': ('val2017', 100001)}


def coco_categories():
    """The 80 COCO categories with their official ids and supercategories."""
    from mmdet.datasets import CocoDataset
    names = CocoDataset.METAINFO['classes']
    cats = []
    for cat_id, name in zip(COCO_IDS, names):
        sup = [s for first, s in SUPERCATEGORIES if cat_id >= first][-1]
        cats.append(dict(id=cat_id, name=name, supercategory=sup))
    return cats


def _polygons(mask):
    """COCO polygons (pixel-centre contours) of a boolean mask."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    polys = []
    for c in contours:
        if len(c) >= 3:
            polys.append([round(float(v) + 0.5, 2) for v in c.reshape(-1)])
    return polys


def draw_image(rng, height, width, classes, max_objects=6, min_area=40):
    """One RGB image and its visible-instance annotations.

    Returns:
        tuple: ``(rgb uint8 [H, W, 3], [(name, polygons, area, bbox), ...])``
    """
    canvas = background(rng, height, width)
    objs = []
    for _ in range(int(rng.integers(1, max_objects + 1))):
        name, shape, hue = classes[int(rng.integers(len(classes)))]
        mask = shape_mask(shape, rng, height, width)
        layer = texture(rng, height, width, hsv_color(hue, rng), strength=25.0)
        paste(canvas, mask, layer)
        objs = [(n, m & ~mask) for n, m in objs] + [(name, mask)]
    anns = []
    for name, visible in objs:
        polys = _polygons(visible)
        if not polys:
            continue
        rle = mask_utils.merge(mask_utils.frPyObjects(polys, height, width))
        area = float(mask_utils.area(rle))
        if area < min_area:
            continue
        bbox = [round(float(v), 2) for v in mask_utils.toBbox(rle)]
        anns.append((name, polys, area, bbox))
    return to_uint8(canvas), anns


def generate_coco(out, num_train, num_val, size=(128, 128), seed=0,
                  num_classes=4, max_objects=6):
    """Write a synthetic COCO dataset to ``out`` and return its root path."""
    if not 1 <= num_classes <= len(DRAWN):
        raise ValueError(f'num_classes must be in [1, {len(DRAWN)}], '
                         f'got {num_classes}')
    height, width = size
    out = Path(out)
    cats = coco_categories()
    name_to_id = {c['name']: c['id'] for c in cats}
    classes = DRAWN[:num_classes]
    (out / 'annotations').mkdir(parents=True, exist_ok=True)
    for split, count in (('train', num_train), ('val', num_val)):
        folder, first_id = SPLITS[split]
        (out / folder).mkdir(parents=True, exist_ok=True)
        images, annotations = [], []
        for i in range(count):
            rng = image_rng(seed, split, i)
            for _ in range(100):  # redraw until one instance stays visible
                rgb, anns = draw_image(rng, height, width, classes, max_objects)
                if anns:
                    break
            img_id = first_id + i
            file_name = f'{img_id:012d}.jpg'
            write_image(out / folder / file_name, rgb)
            images.append(dict(id=img_id, file_name=file_name, height=height,
                               width=width, license=1))
            for name, polys, area, bbox in anns:
                annotations.append(dict(
                    id=len(annotations) + first_id, image_id=img_id,
                    category_id=name_to_id[name], segmentation=polys,
                    area=area, bbox=bbox, iscrowd=0))
        doc = dict(
            info=dict(description='VisionPlug synthetic COCO', version='1.0',
                      year=2026, contributor='VisionPlug',
                      url='', date_created='2026-01-01'),
            licenses=[dict(id=1, name='CC0', url='')],
            images=images, annotations=annotations, categories=cats)
        ann_path = out / 'annotations' / f'instances_{folder}.json'
        tmp = ann_path.with_suffix('.json.tmp')
        tmp.write_text(json.dumps(doc))
        tmp.replace(ann_path)
    from .captions import generate_coco_captions  # it reads the files above
    return generate_coco_captions(out)
