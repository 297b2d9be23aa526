"""Synthetic data for configs whose datasets are missing: one synthetic
root per dataset format (a validation ConcatDataset of COCO captions and
ImageNet gets both), the others left alone."""
import os

import pytest

from projects.analysis.samples import build_dataset, load_analysis_config
from projects.analysis.timing import prepare_data

FLIP_B = 'configs/flip/flip_vit-base-p16_256xb256-mask50-amp-coslr-190k_laion400m.py'


def test_each_missing_dataset_gets_a_synthetic_root_of_its_format(tmp_path):
    cfg = load_analysis_config(FLIP_B)
    first = prepare_data(cfg, None, tmp_path)
    assert first == str(tmp_path / 'laion_real')
    assert cfg.train_dataloader.dataset.data_root == first
    coco, imagenet = cfg.val_dataloader.dataset.datasets
    assert coco.data_root == str(tmp_path / 'coco_real')
    assert imagenet.data_root == str(tmp_path / 'imagenet_real')
    assert len(build_dataset(cfg, 'val')) == 4  # 2 captioned + 2 labelled
    assert len(build_dataset(cfg, 'train')) == 2


def test_existing_roots_are_kept_and_missing_ones_fail_without_tmp(tmp_path):
    cfg = load_analysis_config(FLIP_B)
    imagenet = cfg.val_dataloader.dataset.datasets[1]
    imagenet.data_root = str(tmp_path / 'mine')
    os.makedirs(imagenet.data_root)
    prepare_data(cfg, None, tmp_path / 'synthetic')
    assert imagenet.data_root == str(tmp_path / 'mine')
    assert cfg.val_dataloader.dataset.datasets[0].data_root.endswith(
        'coco_real')
    with pytest.raises(FileNotFoundError, match='laion400m'):
        prepare_data(load_analysis_config(FLIP_B), None, None)
