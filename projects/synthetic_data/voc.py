"""Synthetic semantic segmentation data in the PASCAL VOC 2012 + SBD ("aug")
layout read by mmseg's ``PascalVOCDataset``.

Layout written under ``out`` (the ``VOCdevkit/VOC2012`` folder)::

    JPEGImages/2007_000001.jpg ...           (train: 2007_*, val: 2008_*)
    SegmentationClass/<id>.png               palette PNG, 0..20, 255 = void
    SegmentationClassAug/<id>.png            grayscale PNG, 0..20 (train ids)
    ImageSets/Segmentation/{train,val,aug}.txt

As in the real data, ``SegmentationClass`` marks a 5-pixel void band (255)
along object outlines and is stored with the VOC colour palette (pixel
values are class indices), while the SBD-converted ``SegmentationClassAug``
has no void band and is plain grayscale. ``aug.txt`` lists the training
images (the real one lists SBD + VOC train minus VOC val).
"""
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from .painting import (SHAPES, background, hsv_color, image_rng, paste,
                       shape_mask, texture, to_uint8, write_image)

NUM_CLASSES = 21  # background + 20 objects
VOID = 255
SPLITS = {'train': '2007', 'val': '2008'}


def voc_palette():
    """The 256-entry VOC colour map (bit-interleaved class index)."""
    palette = []
    for k in range(256):
        r = g = b = 0
        c = k
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        palette += [r, g, b]
    return palette


def draw_scene(rng, height, width, max_objects=4):
    """One RGB image, its label map without void, and the void band mask."""
    canvas = background(rng, height, width)
    seg = np.zeros((height, width), np.uint8)
    for _ in range(int(rng.integers(1, max_objects + 1))):
        label = int(rng.integers(1, NUM_CLASSES))
        mask = shape_mask(SHAPES[label % len(SHAPES)], rng, height, width,
                          0.2, 0.6)
        layer = texture(rng, height, width,
                        hsv_color(360.0 * label / NUM_CLASSES, rng, jitter=6),
                        strength=25)
        paste(canvas, mask, layer)
        seg[mask] = label
    kernel = np.ones((5, 5), np.uint8)  # a 5-pixel band across each edge
    void = cv2.dilate(seg, kernel) != cv2.erode(seg, kernel)
    return to_uint8(canvas), seg, void


def generate_voc(out, num_train, num_val, size=(375, 500), seed=0):
    """Write a synthetic VOC 2012 (+ aug) root to ``out``; return it.

    Args:
        out (str | Path): the ``VOC2012`` folder to write.
        num_train (int): training images (``train.txt`` and ``aug.txt``).
        num_val (int): validation images (``val.txt``).
        size (tuple[int, int]): image ``(H, W)``; VOC's typical 375 x 500.
        seed (int): the dataset is a pure function of the arguments.
    """
    if num_train < 1 or num_val < 1:
        raise ValueError(f'num_train and num_val must be >= 1, got '
                         f'{num_train} and {num_val}')
    height, width = size
    out = Path(out)
    folders = {name: out / name for name in (
        'JPEGImages', 'SegmentationClass', 'SegmentationClassAug',
        'ImageSets/Segmentation')}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    palette = voc_palette()
    lists = {}
    for split, count in (('train', num_train), ('val', num_val)):
        ids = []
        for i in range(count):
            rgb, seg, void = draw_scene(image_rng(seed, split, i), height,
                                        width)
            name = f'{SPLITS[split]}_{i + 1:06d}'
            write_image(folders['JPEGImages'] / f'{name}.jpg', rgb)
            voc = Image.fromarray(np.where(void, VOID, seg).astype(np.uint8),
                                  mode='P')
            voc.putpalette(palette)
            voc.save(folders['SegmentationClass'] / f'{name}.png')
            if split == 'train':
                Image.fromarray(seg, mode='L').save(
                    folders['SegmentationClassAug'] / f'{name}.png')
            ids.append(name)
        lists[split] = ids
    lists['aug'] = lists['train']
    for split, ids in lists.items():
        (folders['ImageSets/Segmentation'] / f'{split}.txt').write_text(
            '\n'.join(ids) + '\n')
    return out
