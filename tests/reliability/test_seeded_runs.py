"""Seeded ``deterministic=True`` runs of the tiny SSL and BEV configs repeat
their losses exactly, and no VisionPlug module reseeds the global RNGs."""
import random
import traceback

import numpy as np
import pytest
import torch
from zoo_steps import train_steps

CONFIGS = {  # config: (data fixture, batch size)
    'configs/unigrad/unigrad_resnet18-tiny_1xb8-40it_synthetic-imagenet.py':
    ('imagenet_root', 4),
    'configs/maskdistill/'
    'maskdistill_beit-nano-p8_vit-nano_tiny_1xb8-40it_synthetic-imagenet.py':
    ('imagenet_root', 4),
    'configs/sim/sim_vit-nano-p8_tiny_1xb8-100it_synthetic-imagenet.py':
    ('imagenet_root', 4),
    'configs/g2sd/g2sd_vit-nano-p8_mae-nano_tiny_1xb8-40it_synthetic-imagenet.py':
    ('imagenet_root', 4),
    'configs/bevformer_v2/bevformer-v2_r18_tiny_1xb2-600it_synthetic-nuscenes.py':
    ('nuscenes_root', 1),
}
SEEDERS = [(torch, 'manual_seed'), (torch, 'seed'), (torch.random, 'set_rng_state'),
           (torch, 'set_rng_state'), (np.random, 'seed'), (np.random, 'set_state'),
           (random, 'seed'), (random, 'setstate')]


@pytest.fixture
def reseeds(monkeypatch):
    """Calls of the global seeding functions from code under projects/."""
    calls = []
    for module, name in SEEDERS:
        original = getattr(module, name)

        def spy(*args, _original=original, _name=name, **kwargs):
            stack = traceback.extract_stack()[:-1]  # [-1]: the caller
            if '/projects/' in stack[-1].filename:
                calls.append((_name, stack[-1].filename, stack[-1].lineno))
            return _original(*args, **kwargs)
        monkeypatch.setattr(module, name, spy)
    return calls


@pytest.mark.parametrize('config', sorted(CONFIGS))
def test_seeded_runs_repeat_exactly(config, request, tmp_path, reseeds):
    fixture, batch_size = CONFIGS[config]
    root = request.getfixturevalue(fixture)
    # window 1: the logged loss is that iteration's, not a running mean
    opts = {'randomness': dict(seed=11, deterministic=True),
            'log_processor': dict(window_size=1)}
    runs = [train_steps(config, root, tmp_path / str(i), iters=2,
                        batch_size=batch_size, cfg_options=opts)
            for i in range(2)]
    losses = [[r['loss'] for r in rows if 'loss' in r] for rows in runs]
    assert len(losses[0]) == 2 and losses[0] == losses[1]
    assert losses[0][0] != losses[0][1]
    assert reseeds == []
