"""Synthetic PASCAL VOC (+ aug) and Cityscapes read by mmseg's own dataset
classes through the upstream configs' dataset settings; real image sizes."""
import hashlib

import numpy as np
import pytest
from PIL import Image

from projects.analysis.samples import synthetic_data_root
from projects.synthetic_data import (REAL_SIZES, generate_cityscapes,
                                     generate_voc)
from projects.synthetic_data.cityscapes import CLASSES, IGNORE


def _digest(root):
    return {p.relative_to(root).as_posix(): hashlib.md5(p.read_bytes())
            .hexdigest() for p in sorted(root.rglob('*')) if p.is_file()}


def _build(dataset):
    from mmengine.registry import init_default_scope
    from mmseg.registry import DATASETS
    init_default_scope('mmseg')
    return DATASETS.build(dataset)


def test_voc_layout_read_by_pascal_voc_dataset(tmp_path):
    root = generate_voc(tmp_path / 'VOC2012', 3, 2, size=(60, 80), seed=1)
    prefix = dict(img_path='JPEGImages', seg_map_path='SegmentationClass')
    aug = dict(img_path='JPEGImages', seg_map_path='SegmentationClassAug')
    load = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations')]
    train = _build(dict(type='ConcatDataset', datasets=[
        dict(type='PascalVOCDataset', data_root=str(root), data_prefix=prefix,
             ann_file='ImageSets/Segmentation/train.txt', pipeline=load),
        dict(type='PascalVOCDataset', data_root=str(root), data_prefix=aug,
             ann_file='ImageSets/Segmentation/aug.txt', pipeline=load)]))
    val = _build(dict(type='PascalVOCDataset', data_root=str(root),
                      data_prefix=prefix, pipeline=load,
                      ann_file='ImageSets/Segmentation/val.txt'))
    assert len(train) == 6 and len(val) == 2
    voc, sbd = train[0], train[3]
    assert voc['img_path'] == sbd['img_path']
    assert voc['img'].shape == (60, 80, 3)
    gt_voc, gt_sbd = voc['gt_seg_map'], sbd['gt_seg_map']
    # the VOC map is the SBD map with a void band along the outlines
    void = gt_voc == 255
    assert void.any() and not (gt_sbd == 255).any()
    assert (gt_voc[~void] == gt_sbd[~void]).all()
    assert set(np.unique(gt_sbd)) <= set(range(21))
    assert (gt_sbd > 0).any() and (gt_sbd == 0).any()
    png = Image.open(root / 'SegmentationClass' / '2007_000001.png')
    assert png.mode == 'P' and png.getpalette()[3:6] == [128, 0, 0]
    assert Image.open(root / 'SegmentationClassAug' /
                      '2007_000001.png').mode == 'L'
    again = generate_voc(tmp_path / 'again', 3, 2, size=(60, 80), seed=1)
    assert _digest(root) == _digest(again)


def test_cityscapes_layout_read_by_cityscapes_dataset(tmp_path):
    root = generate_cityscapes(tmp_path / 'cityscapes', 2, 1,
                               size=(64, 128), seed=2)
    load = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations')]
    train = _build(dict(type='CityscapesDataset', data_root=str(root),
                        data_prefix=dict(img_path='leftImg8bit/train',
                                         seg_map_path='gtFine/train'),
                        pipeline=load))
    val = _build(dict(type='CityscapesDataset', data_root=str(root),
                      data_prefix=dict(img_path='leftImg8bit/val',
                                       seg_map_path='gtFine/val'),
                      pipeline=load))
    assert len(train) == 2 and len(val) == 1
    sample = train[0]
    assert sample['img'].shape == (64, 128, 3)
    assert 'aachen/aachen_000000_000001_leftImg8bit.png' in sample['img_path']
    train_ids = sample['gt_seg_map']
    assert set(np.unique(train_ids)) <= set(range(19)) | {IGNORE}
    assert {0, 10, IGNORE} <= set(np.unique(train_ids))  # road, sky, bonnet
    label_ids = np.array(Image.open(sample['seg_map_path'].replace(
        'labelTrainIds', 'labelIds')))
    to_label = {t: lab for t, lab, _, _ in CLASSES.values()}
    for train_id in np.unique(train_ids):
        ids = np.unique(label_ids[train_ids == train_id])
        assert ids.tolist() == [1 if train_id == IGNORE else
                                to_label[train_id]]


@pytest.mark.parametrize('kind', ['voc', 'cityscapes'])
def test_real_size_datasets(tmp_path, kind):
    root = synthetic_data_root(kind, tmp_path / kind, num=1, real_size=True)
    height, width = REAL_SIZES[kind]
    image = (root / 'JPEGImages' / '2007_000001.jpg' if kind == 'voc' else
             next(root.glob('leftImg8bit/train/*/*_leftImg8bit.png')))
    assert Image.open(image).size == (width, height)
