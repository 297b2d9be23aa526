"""Each tiny PAP config trains on synthetic COCO with only PAP loss terms."""
import math

import pytest
from zoo_steps import train_steps

CONFIGS = {
    'retinanet_r18_fpn_pap-loss_tiny_1xb4-300it_synthetic-coco.py':
    {'loss_pap'},
    'faster-rcnn_r18_fpn_pap-loss_tiny_1xb4-300it_synthetic-coco.py':
    {'loss_rpn_pap', 'loss_pap'},
    'deformable-detr_r18_pap-loss_tiny_1xb4-300it_synthetic-coco.py':
    {'loss_pap', 'd0.loss_pap'},
}


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_tiny_config_trains_with_pap_terms_only(name, coco_root, tmp_path):
    rows = train_steps(f'configs/pap_loss/{name}', coco_root, tmp_path,
                       iters=2)
    losses = [r for r in rows if 'loss' in r]
    assert len(losses) == 2
    for row in losses:
        terms = {k for k in row if k.startswith(('loss', 'd0.loss'))} - {'loss'}
        assert terms == CONFIGS[name]
        assert all(math.isfinite(row[k]) and 0 <= row[k] <= 2 for k in terms)
        assert row['loss'] == pytest.approx(sum(row[k] for k in terms),
                                            rel=1e-4)
