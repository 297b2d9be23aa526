"""Segmentation label maps (ADE20K, Pascal VOC, Cityscapes, any mmseg
``BaseSegDataset``): each image has its map, of its size, with labels that are
classes or ``ignore_index`` after the dataset's ``reduce_zero_label``."""
import os
import os.path as osp

import numpy as np

from .sampling import DECODE_SAMPLE, HEADER_SAMPLE, evenly_spaced


def list_images(img_dir, img_suffix, ann_file=None):
    """Image paths relative to ``img_dir`` in mmseg's order: the names of the
    ``ann_file`` lines plus ``img_suffix``, else every file ending with
    ``img_suffix`` below ``img_dir`` (recursively, as mmseg lists them)."""
    if ann_file:
        with open(ann_file, encoding='utf-8') as f:
            return [line.strip() + img_suffix for line in f if line.strip()]
    found = []
    for folder, _, files in os.walk(img_dir):
        rel = osp.relpath(folder, img_dir)
        found += [osp.normpath(osp.join(rel, n)) for n in files
                  if n.endswith(img_suffix)]
    return sorted(found)


def train_labels(raw, reduce_zero_label):
    """The labels the model sees: mmseg's ``LoadAnnotations`` maps 0 to 255
    and ``v`` to ``v - 1`` when ``reduce_zero_label``."""
    if not reduce_zero_label:
        return raw
    raw = raw.astype(np.int64)
    return np.where((raw == 0) | (raw == 255), 255, raw - 1)


def label_problems(name, seg_path, num_classes, reduce_zero_label,
                   ignore_index):
    """Problems of one decoded label map (single channel, labels in range)."""
    from PIL import Image
    with Image.open(seg_path) as f:
        raw = np.asarray(f)
    if raw.ndim != 2:
        return [f'image {name}: label map {seg_path} has shape {raw.shape}, '
                'expected one channel of class indices (mode L or P)']
    values = np.unique(train_labels(raw, reduce_zero_label))
    bad = values[(values >= num_classes) & (values != ignore_index)]
    bad = np.concatenate([values[values < 0], bad])
    if not bad.size:
        return []
    shown = ', '.join(str(int(v)) for v in bad[:8])
    rule = (' after reduce_zero_label (file value v -> v - 1, 0 -> 255)'
            if reduce_zero_label else '')
    return [f'image {name}: label map {seg_path} has label(s) {shown}'
            f'{rule}; expected 0..{num_classes - 1} or {ignore_index} '
            '(ignore)']


def segmentation_problems(img_dir, seg_dir, img_suffix, seg_suffix,
                          num_classes=None, reduce_zero_label=False,
                          ignore_index=255, ann_file=None):
    """Problems of the images and label maps of one segmentation dataset.

    Every image needs its label map (all checked); sizes are compared from the
    file headers in an evenly spaced sample of ``HEADER_SAMPLE`` pairs, labels
    in one of ``DECODE_SAMPLE`` maps.

    Returns:
        tuple[list[str], str]: the problems and the sampling note.
    """
    from PIL import Image
    problems, pairs = [], []
    for name in list_images(img_dir, img_suffix, ann_file):
        stem = name[:len(name) - len(img_suffix)]
        img, seg = osp.join(img_dir, name), osp.join(seg_dir, stem + seg_suffix)
        if not osp.isfile(img):
            problems.append(f'image {name}: file {img} does not exist'
                            + (f' (listed in {ann_file})' if ann_file else ''))
        elif not osp.isfile(seg):
            problems.append(f'image {name}: no label map {seg}')
        else:
            pairs.append((name, img, seg))
    sample, size_note = evenly_spaced(pairs, HEADER_SAMPLE)
    for name, img, seg in sample:
        try:
            with Image.open(img) as a, Image.open(seg) as b:
                img_size, seg_size = a.size, b.size
        except (OSError, ValueError) as err:
            problems.append(f'image {name}: {img} or {seg} is not a readable '
                            f'image ({err})')
            continue
        if img_size != seg_size:
            problems.append(f'image {name}: label map {osp.basename(seg)} is '
                            f'{seg_size[0]}x{seg_size[1]}, the image '
                            f'{img_size[0]}x{img_size[1]}')
    label_note = ''
    if num_classes is not None:
        sample, label_note = evenly_spaced(pairs, DECODE_SAMPLE)
        for name, _, seg in sample:
            try:
                problems += label_problems(name, seg, num_classes,
                                           reduce_zero_label, ignore_index)
            except (OSError, ValueError) as err:
                problems.append(f'image {name}: label map {seg} is not a '
                                f'readable image ({err})')
    notes = [n for n in (size_note and f'sizes: {size_note}',
                         label_note and f'labels: {label_note}') if n]
    return problems, '; '.join(notes)

