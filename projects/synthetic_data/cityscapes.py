"""Synthetic street scenes in the Cityscapes layout read by mmseg's
``CityscapesDataset``.

Layout written under ``out``::

    leftImg8bit/{train,val}/<city>/<city>_000000_0000NN_leftImg8bit.png
    gtFine/{train,val}/<city>/<city>_000000_0000NN_gtFine_labelIds.png
    gtFine/{train,val}/<city>/<city>_000000_0000NN_gtFine_labelTrainIds.png

``labelIds`` holds the official Cityscapes label ids, ``labelTrainIds`` the
19 training classes (0..18, 255 = ignored) as mmseg's converter writes them.
Scenes: sky, buildings and vegetation above a road with sidewalks and
terrain, cars, people, riders, poles and traffic signs, and the ego vehicle's
bonnet along the bottom (ignored, as in the real data).
"""
from pathlib import Path

import cv2
import numpy as np

from .painting import (hsv_color, image_rng, paste, shape_mask, smooth_noise,
                       texture, to_uint8)

IGNORE = 255
# train id -> (official label id, hue, texture strength), mmseg class order
CLASSES = {
    'road': (0, 7, 260, 12), 'sidewalk': (1, 8, 300, 20),
    'building': (2, 11, 20, 40), 'wall': (3, 12, 40, 25),
    'fence': (4, 13, 60, 30), 'pole': (5, 17, 0, 5),
    'traffic light': (6, 19, 45, 10), 'traffic sign': (7, 20, 55, 10),
    'vegetation': (8, 21, 100, 60), 'terrain': (9, 22, 80, 40),
    'sky': (10, 23, 205, 8), 'person': (11, 24, 350, 25),
    'rider': (12, 25, 5, 25), 'car': (13, 26, 230, 15),
    'truck': (14, 27, 220, 20), 'bus': (15, 28, 190, 20),
    'train': (16, 31, 170, 20), 'motorcycle': (17, 32, 280, 25),
    'bicycle': (18, 33, 320, 25),
}
EGO_VEHICLE_ID = 1  # ignored in training
THINGS = (('car', 'rectangle', 0.15, 0.35), ('truck', 'rectangle', 0.2, 0.4),
          ('bus', 'rectangle', 0.25, 0.45), ('person', 'ellipse', 0.05, 0.15),
          ('rider', 'ellipse', 0.05, 0.15), ('bicycle', 'cross', 0.05, 0.12),
          ('traffic sign', 'triangle', 0.03, 0.06),
          ('traffic light', 'rectangle', 0.02, 0.05))
SPLITS = {'train': 'aachen', 'val': 'frankfurt'}  # a real city of each split


def _below(rng, height, width, level, wave=0.03):
    """Mask below a wavy horizontal line at ``level`` (fraction of H)."""
    yy = np.arange(height, dtype=np.float32)[:, None]
    line = (level + wave * smooth_noise(rng, 1, width, cells=5)[0]) * height
    return yy >= line[None, :]


def draw_scene(rng, height, width):
    """One RGB street scene and its train-id and label-id maps."""
    canvas = np.zeros((height, width, 3), np.float32)
    train_ids = np.full((height, width), IGNORE, np.uint8)
    label_ids = np.zeros((height, width), np.uint8)

    def fill(name, mask):
        train_id, label_id, hue, strength = CLASSES[name]
        paste(canvas, mask, texture(rng, height, width,
                                    hsv_color(hue, rng, jitter=8), strength))
        train_ids[mask] = train_id
        label_ids[mask] = label_id

    horizon = rng.uniform(0.4, 0.5)
    fill('sky', np.ones((height, width), bool))
    fill('building', _below(rng, height, width, horizon - rng.uniform(0.2, 0.3),
                            wave=0.1))
    fill('vegetation', _below(rng, height, width, horizon - 0.08, wave=0.06) &
         (np.arange(width)[None, :] < rng.uniform(0.1, 0.4) * width))
    fill('terrain', _below(rng, height, width, horizon + 0.02))
    fill('sidewalk', _below(rng, height, width, horizon + 0.05))
    road = _below(rng, height, width, horizon + 0.08)
    xx = np.arange(width, dtype=np.float32)[None, :] / width
    yy = np.arange(height, dtype=np.float32)[:, None] / height
    spread = (yy - horizon) * 1.2  # the road widens towards the camera
    fill('road', road & (np.abs(xx - 0.5) < 0.05 + spread))
    for _ in range(int(rng.integers(1, 4))):
        x = rng.uniform(0.05, 0.95)
        fill('pole', (np.abs(xx - x) < 0.004) & (yy > horizon - 0.25) &
             (yy < horizon + 0.1))
    for _ in range(int(rng.integers(3, 8))):
        name, shape, lo, hi = THINGS[int(rng.integers(len(THINGS)))]
        fill(name, shape_mask(shape, rng, height, width, lo, hi) &
             (yy > horizon - 0.2))
    bonnet = _below(rng, height, width, rng.uniform(0.85, 0.92), wave=0.01)
    paste(canvas, bonnet, texture(rng, height, width,
                                  hsv_color(0, rng) * 0.3, 10))
    train_ids[bonnet] = IGNORE
    label_ids[bonnet] = EGO_VEHICLE_ID
    return to_uint8(canvas), train_ids, label_ids


def _write_png(path, array):
    if not cv2.imwrite(str(path), array):
        raise OSError(f'could not write {path}')


def generate_cityscapes(out, num_train, num_val, size=(1024, 2048), seed=0):
    """Write a synthetic Cityscapes root to ``out``; return it.

    Args:
        out (str | Path): dataset root (``data/cityscapes``).
        num_train (int): training images.
        num_val (int): validation images.
        size (tuple[int, int]): image ``(H, W)``; Cityscapes' 1024 x 2048.
        seed (int): the dataset is a pure function of the arguments.
    """
    if num_train < 1 or num_val < 1:
        raise ValueError(f'num_train and num_val must be >= 1, got '
                         f'{num_train} and {num_val}')
    height, width = size
    out = Path(out)
    for split, count in (('train', num_train), ('val', num_val)):
        city = SPLITS[split]
        img_dir = out / 'leftImg8bit' / split / city
        ann_dir = out / 'gtFine' / split / city
        img_dir.mkdir(parents=True, exist_ok=True)
        ann_dir.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            rgb, train_ids, label_ids = draw_scene(image_rng(seed, split, i),
                                                   height, width)
            stem = f'{city}_000000_{i + 1:06d}'
            _write_png(img_dir / f'{stem}_leftImg8bit.png',
                       cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
            _write_png(ann_dir / f'{stem}_gtFine_labelTrainIds.png', train_ids)
            _write_png(ann_dir / f'{stem}_gtFine_labelIds.png', label_ids)
    return out
