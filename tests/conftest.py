"""Shared fixtures: small synthetic datasets generated once per session."""
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


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
