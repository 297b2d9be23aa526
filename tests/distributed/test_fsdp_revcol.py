"""The wrap policy of the RevCol-H FSDP config (one unit per column and per
level) on the tiny RevCol classifier (4 columns, intermediate supervision,
plain backward), 2 processes over gloo on CPU: the losses and weights follow
the DDP run. RevCol clamps the column shortcut scales in place before each
column runs; with the scales in a unit that is unsharded at that moment
(e.g. per-level units only, the scales in the root) autograd refuses the
in-place change of FSDP's parameter views, so the column is a unit too.
Same set-up and tolerance as test_fsdp_training.py (SGD, weight decay,
gradient clipping to 1; measured: losses equal to 4 decimals, parameters
within 6e-8)."""
import textwrap
from pathlib import Path

import torch
from mmengine.config import Config

from test_fsdp_training import (TOL, finish, initial_checkpoint, launch,
                                losses, state, train_config)

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / 'configs/revcol/revcol-tiny_1xb8-100it_synthetic-imagenet.py'
FSDP_CONFIG = ROOT / ('configs/revcol/'
                      'upernet_revcol-h_8xb1-fsdp-bf16-160k_ade20k-640x640.py')
ITERS = 3


def write_config(tmp_path, data_root, init, policy):
    strategy = textwrap.dedent(f'''\
        runner_type = 'FlexibleRunner'
        strategy = dict(type='FSDPStrategy',
                        model_wrapper=dict(auto_wrap_policy={policy!r}))
        ''') if policy else ''
    return train_config(
        tmp_path / ('fsdp.py' if policy else 'plain.py'), BASE,
        'projects.revcol', data_root, init,
        checkpoint=f'dict(interval={ITERS})', iters=ITERS,
        extra='model = dict(backbone=dict(save_memory=False, '
              'drop_path_rate=0.0))\n' + strategy)


def test_revcol_h_wrap_policy_trains_as_ddp(tmp_path, imagenet_root):
    policy = Config.fromfile(str(FSDP_CONFIG)).strategy.model_wrapper[
        'auto_wrap_policy'].to_dict()
    init = tmp_path / 'init.pth'
    plain = write_config(tmp_path, imagenet_root, init, None)
    fsdp = write_config(tmp_path, imagenet_root, init, policy)
    initial_checkpoint(init, plain)
    procs = [launch(tmp_path, plain, 'ddp'), launch(tmp_path, fsdp, 'fsdp')]
    for proc in procs:
        finish(proc)
    ddp, other = losses(tmp_path / 'ddp'), losses(tmp_path / 'fsdp')
    assert sorted(ddp) == sorted(other) == list(range(1, ITERS + 1))
    for it in ddp:
        assert abs(ddp[it] - other[it]) <= TOL, it
    a, b = (state(tmp_path / w / f'iter_{ITERS}.pth') for w in ('ddp',
                                                                'fsdp'))
    assert list(a) == list(b)
    assert any(k.endswith('alpha0') for k in a)
    for key in a:
        if a[key].is_floating_point():
            assert torch.allclose(a[key], b[key], atol=TOL, rtol=0), key
