"""One training step of each tiny Auto Seg-Loss config on synthetic ADE20K."""
import math

import pytest

from zoo_steps import train_steps

CONFIGS = [
    'configs/auto_seg_loss/upernet_r18_asl-miou_tiny_1xb4-200it_synthetic-ade20k.py',
    'configs/auto_seg_loss/upernet_r18_asl-biou_tiny_1xb4-200it_synthetic-ade20k.py',
    'configs/auto_seg_loss/upernet_r18_asl-bf1_tiny_1xb4-200it_synthetic-ade20k.py',
]


@pytest.mark.parametrize('config', CONFIGS)
def test_tiny_config_trains_one_step(config, ade20k_root, tmp_path):
    rows = train_steps(config, ade20k_root, tmp_path, iters=1)
    row = rows[-1]
    # both heads report the surrogate under the loss's name, in [0, weight]
    assert 0 <= row['decode.loss_autoseg'] <= 1.0
    assert 0 <= row['aux.loss_autoseg'] <= 0.4
    assert math.isclose(row['loss'], row['decode.loss_autoseg'] +
                        row['aux.loss_autoseg'], rel_tol=1e-4)
