"""A hostile checkpoint or YAML config, given to the tools by any address,
is refused with one clear line and never runs.

Remote checkpoints are put where torch.hub would have downloaded them
(``TORCH_HOME`` in the test folder): no network is needed.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.runner.checkpoint import get_torchvision_models

ROOT = Path(__file__).resolve().parents[2]
RETINANET = ROOT / ('configs/retinanet/'
                    'retinanet_r18_fpn_tiny_1xb4-300it_synthetic-coco.py')
URL = 'https://example.invalid/models/evil-0123abcd.pth'


class WritesMarker:
    """Unpickling this creates a file (a harmless stand-in for code)."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, 'w'))


@pytest.fixture(scope='module')
def workdir(tmp_path_factory):
    """A folder with a tiny synthetic COCO under ``data/``."""
    cwd = tmp_path_factory.mktemp('tools')
    subprocess.run([sys.executable,
                    ROOT / 'tools/dataset_converters/make_synthetic.py',
                    'coco', '--out', 'data/synthetic_coco', '--num-train',
                    '2', '--num-val', '1'], cwd=cwd, check=True,
                   capture_output=True)
    return cwd


def run(cwd, *args):
    env = dict(os.environ, TORCH_HOME=str(cwd / 'torch'))
    return subprocess.run([sys.executable, *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True)


def plant(cwd, file_name, marker):
    """The payload, cached as torch.hub would have downloaded it."""
    folder = cwd / 'torch' / 'hub' / 'checkpoints'
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(dict(state_dict={}, meta=dict(epoch=0, iter=1),
                    extra=WritesMarker(str(marker))), folder / file_name)


def pretrained_config(cwd, checkpoint):
    path = cwd / 'pretrained.py'
    path.write_text(
        f'_base_ = [{str(RETINANET)!r}]\n'
        'model = dict(backbone=dict(init_cfg=dict(\n'
        f"    _delete_=True, type='Pretrained', checkpoint={checkpoint!r})))\n")
    return path


def assert_refused(proc, address, marker):
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert 'Traceback' not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith('error') and f'{address} (cached as' in last
    assert 'refused' in last and 'weights_only=False' not in last
    assert not marker.exists()


@pytest.mark.parametrize('how', ['load_from', 'resume', 'pretrained'])
def test_cached_remote_payload_is_refused(workdir, how):
    marker = workdir / f'executed_{how}'
    address, file_name = URL, URL.rsplit('/', 1)[1]
    args = [ROOT / 'tools/train.py', RETINANET, '--work-dir', f'w_{how}']
    if how == 'load_from':
        args += ['--cfg-options', f'load_from={URL}']
    elif how == 'resume':
        args += ['--resume', URL]
    else:
        address = get_torchvision_models()['resnet18']
        file_name = address.rsplit('/', 1)[1]
        args[1] = pretrained_config(workdir, 'torchvision://resnet18')
    plant(workdir, file_name, marker)
    assert_refused(run(workdir, *args), address, marker)


def test_yaml_config_payload_is_refused(workdir):
    marker = workdir / 'executed_yaml'
    config = workdir / 'evil.yaml'
    config.write_text(
        f'work_dir: !!python/object/apply:builtins.open [{str(marker)!r}, w]\n')
    proc = run(workdir, ROOT / 'tools/train.py', config)
    assert proc.returncode == 2 and 'Traceback' not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert f'config {config}, line 1' in last and 'python/object' in last
    assert not marker.exists()
