"""One training step of each tiny InternImage config on the synthetic
datasets, through tools/train.py's config loading."""
import math

import pytest
from zoo_steps import train_steps

CLS = 'configs/internimage/internimage-nano_tiny_1xb16-200it_synthetic-imagenet.py'  # noqa: E501
DET = 'configs/internimage/retinanet_internimage-nano_fpn_tiny_1xb4-300it_synthetic-coco.py'  # noqa: E501
SEG = 'configs/internimage/upernet_internimage-nano_tiny_1xb4-200it_synthetic-ade20k.py'  # noqa: E501


def test_classification_step_starts_at_uniform_loss(imagenet_root, tmp_path):
    """Trunc-normal(0.02) classifier on small pooled features: the first
    cross-entropy is log(1000) up to a few hundredths."""
    rows = train_steps(CLS, imagenet_root, tmp_path)
    assert abs(rows[0]['loss'] - math.log(1000)) < 0.05


@pytest.mark.parametrize('config,root,keys', [
    (DET, 'coco_root', ('loss_cls', 'loss_bbox')),
    (SEG, 'ade20k_root', ('decode.loss_ce', 'aux.loss_ce')),
])
def test_dense_step_losses(config, root, keys, request, tmp_path):
    """Every loss term present, finite and positive; the total is their
    sum."""
    rows = train_steps(config, request.getfixturevalue(root), tmp_path)
    row = rows[0]
    assert all(math.isfinite(row[k]) and row[k] > 0 for k in keys)
    assert row['loss'] == pytest.approx(sum(row[k] for k in keys), rel=1e-4)
