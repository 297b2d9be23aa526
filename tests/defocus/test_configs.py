"""One training step of each tiny De-focus config on synthetic data."""
import math

import pytest
from zoo_steps import train_steps

CASES = {
    'cls': ('configs/defocus/defocus-mamba-tiny-p8_1xb8-100it_'
            'synthetic-imagenet.py', 'imagenet_root',
            {'loss_cls', 'loss_aux'}),
    'det': ('configs/defocus/retinanet_defocus-mamba-tiny_simple-fpn_1xb4-'
            '300it_synthetic-coco.py', 'coco_root', {'loss_cls', 'loss_bbox'}),
    'seg': ('configs/defocus/upernet_defocus-mamba-tiny_simple-fpn_1xb4-'
            '200it_synthetic-ade20k.py', 'ade20k_root',
            {'decode.loss_ce', 'aux.loss_ce'}),
}


@pytest.mark.parametrize('case', sorted(CASES))
def test_tiny_config_trains(case, request, tmp_path):
    config, fixture, keys = CASES[case]
    rows = train_steps(config, request.getfixturevalue(fixture), tmp_path,
                       iters=1, batch_size=2)
    row = next(r for r in rows if 'loss' in r)
    assert keys <= set(row)
    assert all(math.isfinite(row[k]) for k in keys | {'loss'})
    assert row['loss'] == pytest.approx(sum(row[k] for k in keys), rel=1e-4)
    if case == 'cls':  # the iteration-based drop-path schedule starts at min
        assert row['drop_path_rate'] == pytest.approx(0.05)
