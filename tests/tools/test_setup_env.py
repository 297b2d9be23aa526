"""tools/misc/setup_env.sh control flow, with a fake venv Python.

The fake ``.venv/bin/python`` records every pip call (with the build
environment) instead of running pip, "builds" an mmcv wheel that remembers
its flavour, and otherwise runs the real interpreter over fake torch / mmcv /
OpenMMLab modules, so the real script and ``env_key.py`` decide everything.
"""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FAKE_PYTHON = r'''#!/usr/bin/env bash
export PYTHONPATH="$FAKE/site"
if [[ "$1 $2" == "-m pip" ]]; then
    shift 2
    echo "pip $* | FORCE_CUDA=${FORCE_CUDA-unset} ARCH=${TORCH_CUDA_ARCH_LIST-unset} CVD=${CUDA_VISIBLE_DEVICES-unset}" >> "$FAKE/pip.log"
    args=("$@")
    for i in "${!args[@]}"; do
        case "${args[$i]}" in
            -w) echo "2.1.0 $([[ $FORCE_CUDA == 1 ]] && echo cuda || echo cpu)" \
                    > "${args[$((i+1))]}/mmcv-2.1.0-cp311-cp311-linux_x86_64.whl" ;;
            *mmcv-2.1.0-*.whl) cp "${args[$i]}" "$FAKE/mmcv-installed" ;;
        esac
    done
    exit 0
fi
exec REAL_PYTHON "$@"
'''
FAKE_TORCH = '''import os
__version__ = '2.5.1+cu124'
class version:
    cuda = '12.4'
class cuda:
    is_available = staticmethod(lambda: bool(os.environ.get('FAKE_GPU')))
    device_count = staticmethod(lambda: 1)
    get_device_capability = staticmethod(
        lambda i: tuple(map(int, os.environ['FAKE_GPU'].split('.'))))
'''
FAKE_MMCV_OPS = '''import os
_, _flavour = open(os.environ['FAKE'] + '/mmcv-installed').read().split()
def get_compiling_cuda_version():
    return '12.4' if _flavour == 'cuda' else 'not available'
'''


@pytest.fixture
def checkout(tmp_path):
    """A copy of the set-up files with a fake venv, nvcc and modules."""
    repo, fake = tmp_path / 'repo', tmp_path / 'fake'
    shutil.copytree(ROOT / 'requirements', repo / 'requirements')
    (repo / 'tools/misc').mkdir(parents=True)
    for name in ('setup_env.sh', 'env_key.py'):
        shutil.copy(ROOT / 'tools/misc' / name, repo / 'tools/misc' / name)
    (repo / 'setup.py').write_text('')
    python = repo / '.venv/bin/python'
    python.parent.mkdir(parents=True)
    python.write_text(FAKE_PYTHON.replace('REAL_PYTHON', sys.executable))
    python.chmod(0o755)
    site = fake / 'site'
    (site / 'mmcv/ops').mkdir(parents=True)
    (site / 'torch.py').write_text(FAKE_TORCH)
    (site / 'mmcv/__init__.py').write_text(
        "import os\n__version__ = open(os.environ['FAKE'] + "
        "'/mmcv-installed').read().split()[0]\n")
    (site / 'mmcv/ops/__init__.py').write_text(FAKE_MMCV_OPS)
    for name in ('mmengine', 'mmdet', 'mmseg', 'mmpretrain'):
        (site / f'{name}.py').write_text("__version__ = 'x'\n")
    for release in ('12.4', '11.8'):
        nvcc = fake / f'cuda-{release}/bin/nvcc'
        nvcc.parent.mkdir(parents=True)
        nvcc.write_text(f'#!/bin/sh\necho "Cuda compilation tools, release '
                        f'{release}, V{release}.1"\n')
        nvcc.chmod(0o755)
    return repo, fake


def setup_env(checkout, gpu=None, cuda='12.4', **env):
    repo, fake = checkout
    base = {'PATH': '/usr/bin:/bin', 'HOME': str(fake), 'FAKE': str(fake),
            'VISIONPLUG_CACHE_DIR': str(fake / 'cache'),
            'CUDA_HOME': str(fake / f'cuda-{cuda}'), 'MAX_JOBS': '2'}
    if gpu:
        base['FAKE_GPU'] = gpu
    log = fake / 'pip.log'
    log.unlink(missing_ok=True)
    proc = subprocess.run(['bash', repo / 'tools/misc/setup_env.sh'],
                          env={**base, **env}, capture_output=True, text=True)
    calls = log.read_text().splitlines() if log.exists() else []
    return proc, calls


def builds(calls):
    return [c for c in calls if c.split()[2] == 'wheel']


def cached(fake):
    return sorted(p.name for p in (fake / 'cache').iterdir())


def test_login_then_gpu_node_sharing_home_build_separate_wheels(checkout):
    repo, fake = checkout
    proc, calls = setup_env(checkout)
    assert proc.returncode == 0, proc.stderr
    assert 'CPU ops: no visible GPU' in proc.stdout
    (build,) = builds(calls)
    assert build.endswith('FORCE_CUDA=0 ARCH=unset CVD=')
    assert cached(fake) == [
        'mmcv2.1.0-torch2.5.1+cu124-cpu-nosm-cpu-ops-cp311-linux_x86_64']

    proc, calls = setup_env(checkout)  # nothing changed: only checks
    assert proc.returncode == 0 and calls == []
    assert 'up to date' in proc.stdout

    proc, calls = setup_env(checkout, gpu='9.0')  # same venv, a GPU node
    assert proc.returncode == 0, proc.stderr
    assert 'mmcv key changed' in proc.stdout
    (build,) = builds(calls)
    assert build.endswith('FORCE_CUDA=1 ARCH=9.0 CVD=unset')
    assert (fake / 'mmcv-installed').read_text().split() == ['2.1.0', 'cuda']
    assert len(cached(fake)) == 2
    assert (repo / '.venv/.visionplug-mmcv').read_text().strip() == (
        'mmcv2.1.0-torch2.5.1+cu124-cu12.4-sm9.0-cuda-ops-cp311-linux_x86_64')

    # back on the login node: the cached CPU wheel is installed, not rebuilt
    proc, calls = setup_env(checkout)
    assert proc.returncode == 0, proc.stderr
    assert builds(calls) == [] and 'reusing cached mmcv wheel' in proc.stdout
    assert (fake / 'mmcv-installed').read_text().split() == ['2.1.0', 'cpu']


def test_arch_list_and_forced_cpu(checkout):
    proc, calls = setup_env(checkout, TORCH_CUDA_ARCH_LIST='8.0 9.0')
    assert proc.returncode == 0, proc.stderr
    assert builds(calls)[0].endswith('FORCE_CUDA=1 ARCH=8.0;9.0 CVD=unset')
    proc, calls = setup_env(checkout, gpu='9.0', VISIONPLUG_MMCV_OPS='cpu')
    assert proc.returncode == 0, proc.stderr
    assert builds(calls)[0].endswith('FORCE_CUDA=0 ARCH=unset CVD=')


def test_cuda_major_mismatch_stops_before_building(checkout):
    proc, calls = setup_env(checkout, gpu='9.0', cuda='11.8')
    assert proc.returncode != 0
    assert 'nvcc is CUDA 11.8 but torch 2.5.1+cu124' in proc.stderr
    assert builds(calls) == []


def test_wheelhouse_installs_without_index(checkout, tmp_path):
    house = tmp_path / 'house'
    proc, _ = setup_env(checkout, VISIONPLUG_WHEELHOUSE=str(house))
    assert proc.returncode != 0 and 'has no visionplug-wheelhouse.txt' in proc.stderr
    house.mkdir()
    (house / 'visionplug-wheelhouse.txt').write_text('python=3.12\n')
    proc, _ = setup_env(checkout, VISIONPLUG_WHEELHOUSE=str(house))
    assert proc.returncode != 0
    assert 'wheelhouse holds wheels for 3.12' in proc.stderr
    (house / 'visionplug-wheelhouse.txt').write_text(
        'python=%d.%d\n' % sys.version_info[:2])
    proc, calls = setup_env(checkout, VISIONPLUG_WHEELHOUSE=str(house))
    assert proc.returncode == 0, proc.stderr
    fetching = [c for c in calls if not c.split('|')[0].rstrip().endswith('.whl')]
    assert len(fetching) == 4  # build reqs, mmcv build, runtime reqs, editable
    assert all(f'--no-index --find-links {house}' in c for c in fetching)


def test_torch_override_replaces_the_pinned_torch(checkout):
    proc, calls = setup_env(
        checkout, VISIONPLUG_TORCH='torch==2.4.1 torchvision==0.19.1')
    assert proc.returncode == 0, proc.stderr
    assert 'torch==2.4.1 torchvision==0.19.1' in calls[0]
    repo, _ = checkout
    reqs = (repo / '.venv/.visionplug-build.txt').read_text()
    assert not any(line.startswith('torch') for line in reqs.splitlines())
    assert 'numpy' in reqs
