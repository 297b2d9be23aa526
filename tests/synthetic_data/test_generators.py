"""Generators are deterministic and write valid data in the real formats."""
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from projects.synthetic_data import (generate_ade20k, generate_coco,
                                     generate_imagenet)
from projects.synthetic_data.coco import COCO_IDS

ROOT = Path(__file__).resolve().parents[2]


def tree_digest(root):
    h = hashlib.sha256()
    for p in sorted(Path(root).rglob('*')):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def test_coco_deterministic_and_seeded(tmp_path):
    a = generate_coco(tmp_path / 'a', 4, 2, seed=7)
    b = generate_coco(tmp_path / 'b', 4, 2, seed=7)
    c = generate_coco(tmp_path / 'c', 4, 2, seed=8)
    assert tree_digest(a) == tree_digest(b)
    assert tree_digest(a) != tree_digest(c)


def test_ade20k_and_imagenet_deterministic(tmp_path):
    for gen in (generate_ade20k, generate_imagenet):
        a = gen(tmp_path / f'{gen.__name__}_a', 3, 2, seed=1)
        b = gen(tmp_path / f'{gen.__name__}_b', 3, 2, seed=1)
        assert tree_digest(a) == tree_digest(b)


def test_coco_format_and_consistency(coco_root):
    for split, folder, n in (('train', 'train2017', 12), ('val', 'val2017', 6)):
        coco = COCO(str(coco_root / 'annotations' / f'instances_{folder}.json'))
        assert len(coco.getImgIds()) == n
        assert sorted(coco.getCatIds()) == list(COCO_IDS)
        assert coco.loadCats(1)[0]['name'] == 'person'
        drawn = set()
        for img_id in coco.getImgIds():
            info = coco.loadImgs(img_id)[0]
            img = cv2.imread(str(coco_root / folder / info['file_name']))
            assert img.shape == (info['height'], info['width'], 3)
            anns = coco.loadAnns(coco.getAnnIds(imgIds=img_id))
            assert anns, 'every image has at least one instance'
            union = np.zeros(img.shape[:2], np.int32)
            for ann in anns:
                drawn.add(ann['category_id'])
                m = coco.annToMask(ann)
                assert m.sum() == ann['area'] > 0
                ys, xs = np.nonzero(m)
                x, y, w, h = ann['bbox']
                # the box is the tight box of the mask, inside the image
                assert abs(x - xs.min()) <= 1 and abs(y - ys.min()) <= 1
                assert abs(x + w - xs.max() - 1) <= 1
                assert abs(y + h - ys.max() - 1) <= 1
                assert 0 <= x and x + w <= info['width']
                assert 0 <= y and y + h <= info['height']
                np.testing.assert_allclose(
                    mask_utils.toBbox(coco.annToRLE(ann)), ann['bbox'],
                    atol=0.01)
                union += m
            # visible parts of occluding instances do not overlap
            # (up to the boundary pixels of their polygons)
            assert (union > 1).sum() <= 0.1 * (union > 0).sum()
        assert drawn <= {1, 3, 18, 44}  # person, car, dog, bottle
    assert len(drawn) >= 2


def test_ade20k_layout_and_labels(ade20k_root):
    for folder, prefix, n in (('training', 'ADE_train', 8),
                              ('validation', 'ADE_val', 4)):
        imgs = sorted((ade20k_root / 'images' / folder).glob('*.jpg'))
        segs = sorted((ade20k_root / 'annotations' / folder).glob('*.png'))
        assert [p.stem for p in imgs] == [p.stem for p in segs]
        assert len(imgs) == n and imgs[0].name == f'{prefix}_00000001.jpg'
        for img_path, seg_path in zip(imgs, segs):
            seg = cv2.imread(str(seg_path), cv2.IMREAD_UNCHANGED)
            assert seg.dtype == np.uint8 and seg.ndim == 2
            assert seg.shape == cv2.imread(str(img_path)).shape[:2]
            values = set(np.unique(seg).tolist())
            # 0 = other; wall=1, sky=3, floor=4 ... in the ADE20K convention
            assert values <= set(range(151))
            assert values & {1, 3}, 'every scene has wall or sky'


def test_imagenet_layout(imagenet_root):
    lines = (imagenet_root / 'meta' / 'train.txt').read_text().splitlines()
    assert len(lines) == 20
    labels = sorted({int(ln.split()[1]) for ln in lines})
    assert labels == [0, 200, 400, 600, 800]
    for ln in lines:
        rel, _ = ln.split()
        assert (imagenet_root / 'train' / rel).is_file()
    assert lines[0].startswith('tench/')


def test_cli_writes_dataset(tmp_path):
    out = tmp_path / 'cli'
    proc = subprocess.run(
        [sys.executable, 'tools/dataset_converters/make_synthetic.py', 'coco',
         '--out', str(out), '--num-train', '2', '--num-val', '1', '--size',
         '64', '96', '--seed', '5', '--num-classes', '2'],
        cwd=ROOT, capture_output=True, text=True, check=True)
    assert 'wrote synthetic coco' in proc.stdout
    doc = json.loads((out / 'annotations/instances_val2017.json').read_text())
    assert doc['images'][0]['height'] == 64 and doc['images'][0]['width'] == 96
    assert {a['category_id'] for a in doc['annotations']} <= {1, 3}


def test_cli_rejects_bad_arguments(tmp_path):
    proc = subprocess.run(
        [sys.executable, 'tools/dataset_converters/make_synthetic.py',
         'ade20k', '--out', str(tmp_path), '--num-classes', '3'],
        cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2
    assert '--num-classes does not apply to ade20k' in proc.stderr
