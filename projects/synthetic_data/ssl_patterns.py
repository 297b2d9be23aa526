"""A synthetic pre-training set on which self-supervised learning works in
minutes on a CPU, in the ImageNet layout (as :mod:`.imagenet`).

Each class is a two-colour PATTERN that fills the image (stripes,
checkerboard, dot grid, rings, cross-hatch, confetti, blobs, wavy stripes,
sunburst, brick wall): texture and layout of the repeated elements, which
survive the standard SSL augmentations (random resized crop - every crop
still shows the pattern -, flip, colour jitter, grayscale, mild blur).
Colours carry no class information: each image takes one of ``palette``
(default 4) fixed colour pairs, in random order. Shared colours matter for
self-supervised learning: with ``palette=0`` (hues and saturations drawn
independently per image) the colour pair identifies an image through any
crop and colour jitter, so instance-discrimination objectives learn colour
and no class information (projects/ssl_eval/README.md). Orientation,
phase, centre and period (15-22 % of the side) vary within a class, so a
trained network clearly beats a randomly initialised one.

Layout written under ``out``::

    train/<class>/<class>_00000001.png ...   val/<class>/...
    meta/train.txt  meta/val.txt   ("<class>/<file> <label>", labels 0..9)
    meta/classes.txt               (one class name per line)
    annotations/captions_{train,val}.json  (COCO captions format: class-name
                                            prompts, for image-text methods)

Read it with mmpretrain's ``ImageNet`` / ``CustomDataset`` and
``classes=data_root + 'meta/classes.txt'`` (labels are 0..9, not ImageNet
indices).
"""
import json
import re
from pathlib import Path

import cv2
import numpy as np

from .painting import image_rng, smooth_noise, to_uint8, write_image

# class name -> the pattern that fills the whole image (so every crop of
# it shows the class); orientation, scale, phase and centre are random
CLASSES = ('stripes', 'checkerboard', 'dot grid', 'concentric rings',
           'cross-hatch', 'confetti', 'blobs', 'wavy stripes', 'sunburst',
           'brick wall')
TEMPLATES = ('a photo of {}.', 'a pattern of {}.', 'an image of {}.',
             'a texture of {}.', 'a picture of {}.')


def folder_name(name):
    return re.sub(r'[^a-z0-9]+', '_', name.lower()).strip('_')


# fixed (foreground, background) colour pairs of ``palette > 0``
PALETTE = (((230, 200, 40), (40, 40, 120)), ((220, 60, 60), (30, 90, 60)),
           ((240, 240, 240), (90, 50, 140)), ((60, 200, 220), (120, 40, 30)),
           ((250, 150, 200), (20, 20, 20)), ((150, 230, 120), (70, 70, 70)))


def _colours(rng, palette=4):
    """Foreground and background RGB colours. ``palette=0``: independent
    random hues and saturations, values at least 0.35 apart so that the
    pattern stays visible in grayscale; ``palette=k``: one of the first
    ``k`` pairs of ``PALETTE``, in random order, so that colours are shared
    by many images and no longer identify one."""
    if palette:
        pair = PALETTE[int(rng.integers(palette))]
        fg, bg = [np.asarray(c, np.float32) for c in pair]
        return (fg, bg) if rng.random() < 0.5 else (bg, fg)
    v_fg = rng.uniform(0.2, 1.0)
    gap = rng.uniform(0.35, 0.6)
    v_bg = v_fg - gap if v_fg - gap >= 0.05 else v_fg + gap
    v_bg = float(np.clip(v_bg, 0.05, 1.0))
    out = []
    for val in (v_fg, v_bg):
        hsv = np.array([[[rng.uniform(0, 180), rng.uniform(0.3, 1.0) * 255,
                          val * 255]]], np.uint8)
        out.append(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0]
                   .astype(np.float32))
    return out


def _pattern(rng, size, label):
    """Boolean foreground mask ``(size, size)`` of class ``label``."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    angle = rng.uniform(0, np.pi)
    c, s = np.cos(angle), np.sin(angle)
    u, v = xx * c + yy * s, -xx * s + yy * c
    period = rng.uniform(0.15, 0.22) * size
    phase = rng.uniform(0, period, size=2)
    u, v = u + phase[0], v + phase[1]
    name = CLASSES[label]
    if name == 'stripes':
        return (u % period) < period / 2
    if name == 'checkerboard':
        return ((u // (period / 2)) + (v // (period / 2))) % 2 == 0
    if name == 'dot grid':
        du = (u % period) - period / 2
        dv = (v % period) - period / 2
        return du**2 + dv**2 < (0.28 * period)**2
    if name == 'cross-hatch':
        width = 0.25 * period
        return ((u % period) < width) | ((v % period) < width)
    if name == 'wavy stripes':
        wave = 0.25 * period * np.sin(2 * np.pi * v / (1.5 * period))
        return ((u + wave) % period) < period / 2
    if name == 'brick wall':
        row = v // (period / 2)
        shifted = u + (row % 2) * period / 2
        mortar = 0.2 * period
        return ((shifted % period) < mortar) | \
            ((v % (period / 2)) < mortar / 2)
    cx, cy = rng.uniform(0.2, 0.8, size=2) * size
    dx, dy = xx - cx, yy - cy
    if name == 'concentric rings':
        return (np.sqrt(dx**2 + dy**2) + phase[0]) % period < period / 2
    if name == 'sunburst':
        spokes = int(rng.integers(5, 9))
        return (np.arctan2(dy, dx) * spokes / np.pi + rng.uniform(0, 2)) \
            % 2 < 1
    if name == 'confetti':
        mask = np.zeros((size, size), np.uint8)
        side = 0.09 * size
        for _ in range(int(rng.integers(10, 16))):
            x0, y0 = rng.uniform(-side, size, size=2)
            rot = rng.uniform(0, np.pi)
            pts = np.array([(0, 0), (1, 0), (1, 1), (0, 1)]) * side
            pts = pts @ np.array([[np.cos(rot), np.sin(rot)],
                                  [-np.sin(rot), np.cos(rot)]]) + (x0, y0)
            cv2.fillPoly(mask, [np.round(pts).astype(np.int32)], 1)
        return mask.astype(bool)
    if name == 'blobs':
        noise = smooth_noise(rng, size, size, cells=int(rng.integers(3, 5)))
        return noise > 0
    raise ValueError(f'unknown class {name!r}')


def draw_ssl_sample(rng, size, label, palette=4):
    """One RGB ``size x size`` uint8 image of class ``label``."""
    fg, bg = _colours(rng, palette)
    mask = _pattern(rng, size, label)
    canvas = np.where(mask[..., None], fg[None, None], bg[None, None])
    shade = smooth_noise(rng, size, size, cells=int(rng.integers(2, 5)))
    canvas = canvas + 15.0 * shade[..., None]
    canvas += rng.normal(0, 4.0, size=canvas.shape).astype(np.float32)
    return to_uint8(canvas)


def _captions(split_dir, entries):
    """COCO-captions JSON of class-name prompts for the listed images."""
    images, anns = [], []
    for img_id, (rel, label) in enumerate(entries):
        images.append(dict(id=img_id, file_name=rel))
        name = CLASSES[label]
        for template in TEMPLATES:
            anns.append(dict(id=len(anns), image_id=img_id,
                             caption=template.format(name)))
    return dict(info=dict(description=f'class-name prompts of {split_dir}'),
                licenses=[], images=images, annotations=anns)


def generate_ssl_patterns(out, num_train, num_val, size=(40, 40), seed=0,
                          num_classes=len(CLASSES), palette=4):
    """Write the set; ``num_train`` / ``num_val`` are images per split,
    assigned to the classes in turn; ``palette``: see :func:`_colours`.
    Deterministic in ``seed``."""
    if not 0 <= palette <= len(PALETTE):
        raise ValueError(f'palette must be in [0, {len(PALETTE)}], got '
                         f'{palette}')
    if not 1 <= num_classes <= len(CLASSES):
        raise ValueError(f'num_classes must be in [1, {len(CLASSES)}], got '
                         f'{num_classes}')
    if size[0] != size[1] or size[0] < 16:
        raise ValueError(f'size must be square and >= 16 px, got {size}')
    out = Path(out)
    (out / 'meta').mkdir(parents=True, exist_ok=True)
    (out / 'annotations').mkdir(parents=True, exist_ok=True)
    names = list(CLASSES[:num_classes])
    (out / 'meta' / 'classes.txt').write_text('\n'.join(names) + '\n')
    for split, count in (('train', num_train), ('val', num_val)):
        entries = []
        for i in range(count):
            label = i % num_classes
            folder = folder_name(names[label])
            rgb = draw_ssl_sample(image_rng(seed, split, i), size[0], label,
                                  palette)
            (out / split / folder).mkdir(parents=True, exist_ok=True)
            rel = f'{folder}/{folder}_{i + 1:08d}.png'
            write_image(out / split / rel, rgb)
            entries.append((rel, label))
        (out / 'meta' / f'{split}.txt').write_text(
            ''.join(f'{rel} {label}\n' for rel, label in entries))
        doc = _captions(split, entries)
        (out / 'annotations' / f'captions_{split}.json').write_text(
            json.dumps(doc))
    return out
