"""Shared fixtures: small synthetic datasets generated once per session."""
import os
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
if os.environ.get('PYTEST_XDIST_WORKER'):
    # pytest-xdist runs one worker per core: one thread each (subprocesses
    # such as tools/train.py inherit it) instead of oversubscribing the CPU
    os.environ['OMP_NUM_THREADS'] = '1'
    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def isolated_default_scope():
    """Undo the mmengine default scopes a test creates (``init_default_scope``
    and every Runner set a process-wide current scope that would otherwise
    leak into whichever test runs next)."""
    from mmengine.registry import DefaultScope
    before = DefaultScope._instance_dict.copy()
    yield
    DefaultScope._instance_dict.clear()
    DefaultScope._instance_dict.update(before)


@pytest.fixture(scope='session')
def coco_root(tmp_path_factory):
    from projects.synthetic_data import generate_coco
    return generate_coco(tmp_path_factory.mktemp('coco'), 12, 6, seed=3)


@pytest.fixture(scope='session')
def ade20k_root(tmp_path_factory):
    from projects.synthetic_data import generate_ade20k
    return generate_ade20k(tmp_path_factory.mktemp('ade'), 8, 4, seed=3)


@pytest.fixture(scope='session')
def imagenet_root(tmp_path_factory):
    from projects.synthetic_data import generate_imagenet
    return generate_imagenet(tmp_path_factory.mktemp('imagenet'), 20, 10,
                             seed=3, num_classes=5)


@pytest.fixture(scope='session')
def nuscenes_root(tmp_path_factory):
    """2 train + 1 val scenes x 4 key frames, 6 cameras at 90x160, with our
    infos files."""
    from projects.synthetic_data import generate_nuscenes
    return generate_nuscenes(tmp_path_factory.mktemp('nuscenes'), 2, 1,
                             size=(90, 160), seed=3)


class Exploit:
    """Unpickling this would create a file (a stand-in for arbitrary code)."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, 'w'))


@pytest.fixture
def exploit_checkpoint(tmp_path):
    """``(checkpoint path, marker path)``: loading it unsafely creates marker."""
    marker = tmp_path / 'executed'
    path = tmp_path / 'evil.pth'
    torch.save(dict(state_dict={}, meta={}, extra=Exploit(str(marker))), path)
    return path, marker
