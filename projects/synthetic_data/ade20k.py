"""Synthetic scene parsing data in the ADE20K (ADEChallengeData2016) layout.

Layout written under ``out``::

    images/training/ADE_train_00000001.jpg     annotations/training/ADE_train_00000001.png
    images/validation/ADE_val_00000001.jpg     annotations/validation/ADE_val_00000001.png

Annotation PNGs follow the ADE20K convention: uint8, 0 = "other" (ignored with
``reduce_zero_label=True``), 1..150 = the classes of mmseg's
``ADE20KDataset`` in order. Scenes are outdoor (sky, building/mountain, road or
grass, with trees, cars and people) or indoor (ceiling, wall, floor, with
doors, tables and chairs), plus unlabelled clutter; each class has its own
colour and texture statistics.
"""
from pathlib import Path

import cv2
import numpy as np

from .painting import (hsv_color, image_rng, paste, shape_mask, smooth_noise,
                       texture, to_uint8, write_image)

# class name -> (hue in degrees, texture strength); names as in mmseg.
STYLE = {
    'sky': (210, 10), 'building': (25, 45), 'mountain': (100, 35),
    'road': (240, 15), 'grass': (110, 50), 'tree': (140, 60),
    'car': (0, 20), 'person': (30, 30), 'ceiling': (50, 8), 'wall': (35, 18),
    'floor': (15, 40), 'door': (330, 25), 'table': (270, 30),
    'chair': (170, 35),
}
OUTDOOR_THINGS = (('tree', 'ellipse'), ('car', 'rectangle'),
                  ('person', 'ellipse'))
INDOOR_THINGS = (('door', 'rectangle'), ('table', 'hexagon'),
                 ('chair', 'cross'))
SPLITS = {'train': ('training', 'ADE_train'), 'val': ('validation', 'ADE_val')}


def ade20k_labels():
    """ADE20K class name -> label value in the annotation PNG (1..150)."""
    from mmseg.datasets import ADE20KDataset
    return {n.strip(): i + 1
            for i, n in enumerate(ADE20KDataset.METAINFO['classes'])}


def _band(rng, height, width, top, bottom):
    """Mask between two wavy horizontal boundaries (fractions of height)."""
    yy = np.arange(height, dtype=np.float32)[:, None]
    wave_t = smooth_noise(rng, 1, width, cells=4)[0] * 0.04 * height
    wave_b = smooth_noise(rng, 1, width, cells=4)[0] * 0.04 * height
    return (yy >= top * height + wave_t) & (yy < bottom * height + wave_b)


def draw_scene(rng, height, width, labels):
    """One RGB scene and its ADE20K label map (uint8, 0 = other)."""
    canvas = np.zeros((height, width, 3), np.float32)
    seg = np.zeros((height, width), np.uint8)

    def fill(name, mask):
        hue, strength = STYLE[name]
        layer = texture(rng, height, width, hsv_color(hue, rng, jitter=8),
                        strength=strength)
        paste(canvas, mask, layer)
        seg[mask] = labels[name]

    if rng.random() < 0.5:
        horizon = rng.uniform(0.3, 0.55)
        fill('sky', np.ones((height, width), bool))
        fill(['building', 'mountain'][int(rng.integers(2))],
             _band(rng, height, width, horizon - rng.uniform(0.1, 0.3), 1.0))
        fill(['road', 'grass'][int(rng.integers(2))],
             _band(rng, height, width, horizon + 0.1, 1.0))
        things = OUTDOOR_THINGS
    else:
        fill('wall', np.ones((height, width), bool))
        fill('ceiling', _band(rng, height, width, -1.0, rng.uniform(0.1, 0.25)))
        fill('floor', _band(rng, height, width, rng.uniform(0.6, 0.8), 2.0))
        things = INDOOR_THINGS
    for _ in range(int(rng.integers(1, 5))):
        name, shape = things[int(rng.integers(len(things)))]
        fill(name, shape_mask(shape, rng, height, width, 0.15, 0.45))
    for _ in range(int(rng.integers(0, 3))):  # unlabelled clutter
        mask = shape_mask('star', rng, height, width, 0.05, 0.15)
        layer = texture(rng, height, width, hsv_color(rng.uniform(0, 360), rng),
                        strength=30)
        paste(canvas, mask, layer)
        seg[mask] = 0
    return to_uint8(canvas), seg


def generate_ade20k(out, num_train, num_val, size=(128, 128), seed=0):
    """Write a synthetic ADE20K dataset to ``out`` and return its root path."""
    height, width = size
    out = Path(out)
    labels = ade20k_labels()
    for split, count in (('train', num_train), ('val', num_val)):
        folder, prefix = SPLITS[split]
        img_dir = out / 'images' / folder
        ann_dir = out / 'annotations' / folder
        img_dir.mkdir(parents=True, exist_ok=True)
        ann_dir.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            rgb, seg = draw_scene(image_rng(seed, split, i), height, width,
                                  labels)
            name = f'{prefix}_{i + 1:08d}'
            write_image(img_dir / f'{name}.jpg', rgb)
            if not cv2.imwrite(str(ann_dir / f'{name}.png'), seg):
                raise OSError(f'could not write {ann_dir / name}.png')
    return out
