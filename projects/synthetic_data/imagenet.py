"""Synthetic classification data in the ImageNet layout used by mmpretrain.

Layout written under ``out``::

    train/<class folder>/<class folder>_00000001.JPEG ...
    val/<class folder>/...
    meta/train.txt  meta/val.txt      ("<folder>/<file> <label>" per line)

Labels index mmpretrain's 1000 ImageNet categories, so ``ImageNet`` reads it
with its default metainfo (``ann_file='meta/train.txt'``); ``CustomDataset``
reads the folders directly. ``num_classes`` classes are drawn, each a shape
with its own hue on a textured background.
"""
import re
from pathlib import Path

from .painting import (SHAPES, background, hsv_color, image_rng, paste,
                       shape_mask, texture, to_uint8, write_image)


def imagenet_classes(num_classes):
    """``(label, folder name)`` of the drawn classes, spread over the 1000."""
    from mmpretrain.datasets.categories import IMAGENET_CATEGORIES
    step = len(IMAGENET_CATEGORIES) // num_classes
    out = []
    for k in range(num_classes):
        label = k * step
        name = IMAGENET_CATEGORIES[label].split(',')[0].strip().lower()
        out.append((label, re.sub(r'[^a-z0-9]+', '_', name).strip('_')))
    return out


def draw_sample(rng, height, width, k, num_classes):
    """One RGB image of drawn class ``k``."""
    canvas = background(rng, height, width)
    mask = shape_mask(SHAPES[k % len(SHAPES)], rng, height, width, 0.4, 0.7)
    layer = texture(rng, height, width,
                    hsv_color(360.0 * k / num_classes, rng, jitter=6),
                    strength=25)
    paste(canvas, mask, layer)
    return to_uint8(canvas)


def generate_imagenet(out, num_train, num_val, size=(64, 64), seed=0,
                      num_classes=10):
    """Write a synthetic ImageNet-style dataset; counts are per split."""
    if not 1 <= num_classes <= 1000:
        raise ValueError(f'num_classes must be in [1, 1000], got {num_classes}')
    height, width = size
    out = Path(out)
    classes = imagenet_classes(num_classes)
    (out / 'meta').mkdir(parents=True, exist_ok=True)
    for split, count in (('train', num_train), ('val', num_val)):
        lines = []
        for i in range(count):
            k = i % num_classes
            label, folder = classes[k]
            rgb = draw_sample(image_rng(seed, split, i), height, width, k,
                              num_classes)
            (out / split / folder).mkdir(parents=True, exist_ok=True)
            rel = f'{folder}/{folder}_{i + 1:08d}.JPEG'
            write_image(out / split / rel, rgb)
            lines.append(f'{rel} {label}')
        (out / 'meta' / f'{split}.txt').write_text('\n'.join(lines) + '\n')
    return out
