"""A synthetic pre-training set on which self-supervised learning works in
minutes on a CPU, in the ImageNet layout (as :mod:`.imagenet`).

Each class is defined by what survives the standard SSL augmentations
(random resized crop, flip, colour jitter, grayscale, blur): the SHAPE of
the object, its TEXTURE (solid, striped, hollow) or the LAYOUT of several
small objects. Colours carry no class information (object and background
hues are drawn independently per image, with a guaranteed brightness
contrast), and position, size, aspect, rotation, stripe phase and angle
vary within a class, so a randomly initialised network, whose pooled
features mostly encode colour, is clearly worse than a trained one.

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

from .painting import image_rng, shape_mask, smooth_noise, to_uint8, \
    write_image

# name, kind, argument: 'shape' (one solid shape), 'stripes' (one shape
# filled with a grating), 'ring' (hollow shape), 'layout' (several small
# discs in a pattern)
CLASSES = (
    ('disc', 'shape', 'ellipse'),
    ('triangle', 'shape', 'triangle'),
    ('star', 'shape', 'star'),
    ('cross', 'shape', 'cross'),
    ('square', 'shape', 'rectangle'),
    ('striped disc', 'stripes', 'ellipse'),
    ('ring', 'ring', 'ellipse'),
    ('pair of dots', 'layout', 2),
    ('row of three dots', 'layout', 3),
    ('grid of four dots', 'layout', 4),
)
TEMPLATES = ('a photo of a {}.', 'a {}.', 'an image of a {}.',
             'a picture of a {}.', 'a drawing of a {}.')


def folder_name(name):
    return re.sub(r'[^a-z0-9]+', '_', name.lower()).strip('_')


def _colours(rng):
    """Object and background RGB colours: independent hues, and values
    at least 0.35 apart so the object stays visible in grayscale."""
    hues = rng.uniform(0, 180, size=2)
    v_obj = rng.uniform(0.2, 1.0)
    v_bg = v_obj + rng.choice([-1, 1]) * rng.uniform(0.35, 0.6)
    if not 0.05 <= v_bg <= 1.0:
        v_bg = v_obj - np.sign(v_bg - v_obj) * rng.uniform(0.35, 0.6)
    v_bg = float(np.clip(v_bg, 0.05, 1.0))
    out = []
    for hue, val in zip(hues, (v_obj, v_bg)):
        hsv = np.array([[[hue, rng.uniform(0.3, 1.0) * 255, val * 255]]],
                       np.uint8)
        out.append(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0]
                   .astype(np.float32))
    return out


def _disc(mask, cx, cy, r):
    cv2.circle(mask, (int(round(cx)), int(round(cy))), max(int(round(r)), 1),
               1, thickness=-1)


def _layout_mask(rng, size, count):
    """``count`` small discs: a pair, a row of three or a 2 x 2 grid, with
    random spacing, rotation and position."""
    r = rng.uniform(0.07, 0.1) * size
    gap = rng.uniform(2.6, 3.4) * r
    if count == 4:
        offsets = [(-0.5, -0.5), (0.5, -0.5), (-0.5, 0.5), (0.5, 0.5)]
    else:
        offsets = [(i - (count - 1) / 2, 0.) for i in range(count)]
    rot = rng.uniform(0, np.pi)
    c, s = np.cos(rot), np.sin(rot)
    pts = np.asarray(offsets) * gap @ np.array([[c, s], [-s, c]])
    extent = np.abs(pts).max(axis=0) + r
    cx = rng.uniform(extent[0], size - extent[0])
    cy = rng.uniform(extent[1], size - extent[1])
    mask = np.zeros((size, size), np.uint8)
    for dx, dy in pts:
        _disc(mask, cx + dx, cy + dy, r)
    return mask.astype(bool)


def _whole_shape(rng, size, shape):
    """A shape of 45-75 % of the image side, placed at random but whole
    (drawn on a 3x canvas, then a window containing it is cut out)."""
    big = shape_mask(shape, rng, 3 * size, 3 * size, 0.15, 0.25)
    ys, xs = np.nonzero(big)
    starts = []
    for lo, hi in ((ys.min(), ys.max()), (xs.min(), xs.max())):
        extent = hi - lo + 1
        if extent >= size:  # larger than the image: centre it
            starts.append((lo + hi + 1) // 2 - size // 2)
        else:
            starts.append(int(rng.integers(hi + 1 - size, lo + 1)))
    big = np.pad(big, size)
    y0, x0 = starts[0] + size, starts[1] + size
    return big[y0:y0 + size, x0:x0 + size].copy()


def _object_mask(rng, size, kind, arg):
    if kind == 'layout':
        return _layout_mask(rng, size, arg)
    mask = _whole_shape(rng, size, arg)
    if kind == 'ring':
        # hollow: remove an inner ellipse of 45-60 % of the radius
        ys, xs = np.nonzero(mask)
        cy, cx = ys.mean(), xs.mean()
        ry, rx = np.ptp(ys) / 2, np.ptp(xs) / 2
        k = rng.uniform(0.45, 0.6)
        yy, xx = np.mgrid[0:size, 0:size]
        inner = ((yy - cy) / max(k * ry, 1))**2 + \
            ((xx - cx) / max(k * rx, 1))**2 <= 1
        mask &= ~inner
    elif kind == 'stripes':
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        angle = rng.uniform(0, np.pi)
        period = rng.uniform(0.14, 0.2) * size
        wave = np.sin(2 * np.pi / period * (xx * np.cos(angle) +
                                             yy * np.sin(angle)) +
                      rng.uniform(0, 2 * np.pi))
        mask &= wave > 0
    return mask


def draw_ssl_sample(rng, size, label):
    """One RGB ``size x size`` uint8 image of class ``label``."""
    _, kind, arg = CLASSES[label]
    obj_rgb, bg_rgb = _colours(rng)
    shade = smooth_noise(rng, size, size, cells=int(rng.integers(2, 5)))
    canvas = bg_rgb[None, None] + 12.0 * shade[..., None]
    mask = _object_mask(rng, size, kind, arg)
    canvas[mask] = obj_rgb
    canvas += rng.normal(0, 4.0, size=canvas.shape).astype(np.float32)
    return to_uint8(canvas)


def _captions(split_dir, entries):
    """COCO-captions JSON of class-name prompts for the listed images."""
    images, anns = [], []
    for img_id, (rel, label) in enumerate(entries):
        images.append(dict(id=img_id, file_name=rel))
        name = CLASSES[label][0]
        for template in TEMPLATES:
            anns.append(dict(id=len(anns), image_id=img_id,
                             caption=template.format(name)))
    return dict(info=dict(description=f'class-name prompts of {split_dir}'),
                licenses=[], images=images, annotations=anns)


def generate_ssl_shapes(out, num_train, num_val, size=(32, 32), seed=0,
                        num_classes=len(CLASSES)):
    """Write the set; ``num_train`` / ``num_val`` are images per split,
    assigned to the classes in turn. Deterministic in ``seed``."""
    if not 1 <= num_classes <= len(CLASSES):
        raise ValueError(f'num_classes must be in [1, {len(CLASSES)}], got '
                         f'{num_classes}')
    if size[0] != size[1] or size[0] < 16:
        raise ValueError(f'size must be square and >= 16 px, got {size}')
    out = Path(out)
    (out / 'meta').mkdir(parents=True, exist_ok=True)
    (out / 'annotations').mkdir(parents=True, exist_ok=True)
    names = [CLASSES[k][0] for k in range(num_classes)]
    (out / 'meta' / 'classes.txt').write_text('\n'.join(names) + '\n')
    for split, count in (('train', num_train), ('val', num_val)):
        entries = []
        for i in range(count):
            label = i % num_classes
            folder = folder_name(names[label])
            rgb = draw_ssl_sample(image_rng(seed, split, i), size[0], label)
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
