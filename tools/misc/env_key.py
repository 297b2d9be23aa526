"""How to build mmcv here, and the key of its wheel cache.

``setup_env.sh`` runs ``env_key.py plan MMCV_VERSION`` with the venv's Python
and evaluates the printed shell assignments (``flavour``, ``cuda``,
``arch_list``, ``key``, ``reason``). ``env_key.py platforms TAG`` prints the
``--platform`` arguments pip needs to download wheels for a manylinux target.

The rules (``plan``), with ``VISIONPLUG_MMCV_OPS`` = auto (default), cuda or cpu:

* cuda ops need nvcc (``CUDA_HOME``/``CUDA_PATH``, ``PATH``, then
  ``/usr/local/cuda``, the order torch's extension builder uses) and a CUDA
  build of torch with the same major CUDA version;
* auto builds them when those are present and a GPU is visible or
  ``TORCH_CUDA_ARCH_LIST`` is set (a login node with a CUDA toolkit but no GPU
  builds the CPU flavour, as mmcv's own setup.py does);
* the arch list is ``TORCH_CUDA_ARCH_LIST``, else the visible GPUs'
  capabilities, else ``default_arch_list`` for the nvcc release;
* the key names mmcv, torch (with its local tag), CUDA or ``cpu``, the arch
  list, the ops flavour, the Python tag and the platform, so a wheel built on a
  CPU login node is never reused on a GPU node sharing the home directory.
"""
import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from typing import Optional, Tuple

TORCH_RANGE = ((2, 4), (2, 13))  # mmcv 2.1.0 compiles with -std=c++17
CANDIDATE_ARCHS = ('7.0', '7.5', '8.0', '8.6', '8.9', '9.0', '10.0', '12.0')
NAMED_ARCHS = ('Kepler', 'Maxwell', 'Pascal', 'Volta', 'Turing', 'Ampere',
               'Ada', 'Hopper')
ARCH_RE = re.compile(r'^\d+\.\d+[af]?(\+PTX)?$')


@dataclass(frozen=True)
class Facts:
    """What decides the mmcv build on one machine."""
    torch_version: str             # e.g. '2.13.0+cu130'
    torch_cuda: Optional[str]      # torch.version.cuda, None for a CPU torch
    nvcc_output: Optional[str]     # ``nvcc --version`` output, None: no nvcc
    arch_env: Optional[str]        # TORCH_CUDA_ARCH_LIST
    gpu_caps: Tuple[str, ...]      # capabilities of the visible GPUs
    python_tag: str                # e.g. 'cp311'
    platform: str                  # e.g. 'linux_x86_64'
    ops: str = 'auto'              # VISIONPLUG_MMCV_OPS


@dataclass(frozen=True)
class Plan:
    flavour: str                   # 'cuda' or 'cpu'
    cuda: Optional[str]            # nvcc release for a cuda build
    arch_list: Optional[str]       # ';'-joined, for TORCH_CUDA_ARCH_LIST
    key: str
    reason: str


def nvcc_release(output):
    """'13.0' from ``nvcc --version`` output."""
    match = re.search(r'release (\d+)\.(\d+)', output)
    if not match:
        raise ValueError(f'cannot read the CUDA release from nvcc --version '
                         f'output {output!r}; expected "release X.Y"')
    return f'{match[1]}.{match[2]}'


def _version(text):
    return tuple(int(p) for p in re.findall(r'\d+', text)[:2])


def normalise_arch_list(text):
    """Validate ``TORCH_CUDA_ARCH_LIST`` ('8.0;9.0+PTX', '8.6 9.0', 'Hopper')."""
    archs = [a for a in re.split(r'[;\s]+', text.strip()) if a]
    bad = [a for a in archs if not ARCH_RE.match(a) and a not in NAMED_ARCHS]
    if not archs or bad:
        raise ValueError(f'TORCH_CUDA_ARCH_LIST={text!r}: expected compute '
                         f'capabilities such as "8.0;9.0" or "8.6+PTX" '
                         f'(or {", ".join(NAMED_ARCHS)}), got {bad or "none"}')
    return ';'.join(dict.fromkeys(archs))


def default_arch_list(cuda):
    """The architectures of :data:`CANDIDATE_ARCHS` that nvcc ``cuda`` knows."""
    version = _version(cuda)
    lowest = (7, 5) if version >= (13, 0) else (7, 0)
    highest = (12, 0) if version >= (12, 8) else (9, 0)
    if version < (11, 8):
        highest = (8, 6)
    return ';'.join(a for a in CANDIDATE_ARCHS
                    if lowest <= _version(a) <= highest)


def check_torch(version):
    if not TORCH_RANGE[0] <= _version(version) <= TORCH_RANGE[1]:
        low, high = ('.'.join(map(str, v)) for v in TORCH_RANGE)
        raise ValueError(
            f'torch {version} is not supported: mmcv 2.1.0 builds against '
            f'torch {low} to {high} (torch >= 2.14 needs C++20, mmcv 2.1.0 '
            f'compiles with -std=c++17)')


def plan(facts, mmcv_version):
    """Decide the flavour, arch list and cache key (see the module doc)."""
    if facts.ops not in ('auto', 'cuda', 'cpu'):
        raise ValueError(f'VISIONPLUG_MMCV_OPS={facts.ops!r}: expected auto, '
                         f'cuda or cpu')
    check_torch(facts.torch_version)
    arch_env = facts.arch_env.strip() if facts.arch_env else ''
    missing = None
    if facts.ops == 'cpu':
        missing = 'VISIONPLUG_MMCV_OPS=cpu'
    elif facts.torch_cuda is None:
        missing = f'torch {facts.torch_version} is a CPU build'
    elif facts.nvcc_output is None:
        missing = 'no nvcc (CUDA_HOME, CUDA_PATH, PATH, /usr/local/cuda)'
    elif facts.ops == 'auto' and not facts.gpu_caps and not arch_env:
        missing = ('no visible GPU and TORCH_CUDA_ARCH_LIST unset (set '
                   'VISIONPLUG_MMCV_OPS=cuda or TORCH_CUDA_ARCH_LIST to build '
                   'CUDA ops anyway)')
    if missing and facts.ops == 'cuda':
        raise ValueError(f'VISIONPLUG_MMCV_OPS=cuda, but {missing}')
    if missing:
        cuda = arch_list = None
        reason = f'CPU ops: {missing}'
    else:
        cuda = nvcc_release(facts.nvcc_output)
        if cuda.split('.')[0] != facts.torch_cuda.split('.')[0]:
            raise ValueError(
                f'nvcc is CUDA {cuda} but torch {facts.torch_version} was '
                f'built with CUDA {facts.torch_cuda}: point CUDA_HOME at a '
                f'CUDA {facts.torch_cuda.split(".")[0]}.x toolkit or install '
                f'a torch built for CUDA {cuda}')
        if arch_env:
            arch_list = normalise_arch_list(arch_env)
            source = 'TORCH_CUDA_ARCH_LIST'
        elif facts.gpu_caps:
            arch_list = ';'.join(sorted(set(facts.gpu_caps), key=_version))
            source = 'the visible GPUs'
        else:
            arch_list = default_arch_list(cuda)
            source = f'the default list for CUDA {cuda}'
        reason = f'CUDA ops for {arch_list} (from {source})'
    flavour = 'cpu' if missing else 'cuda'
    key = '-'.join([
        f'mmcv{mmcv_version}', f'torch{facts.torch_version}',
        f'cu{cuda}' if cuda else 'cpu',
        'sm' + arch_list.replace(';', '_') if arch_list else 'nosm',
        f'{flavour}-ops', facts.python_tag, facts.platform])
    return Plan(flavour, cuda, arch_list, key, reason)


def find_nvcc():
    """nvcc in the order torch.utils.cpp_extension looks for CUDA."""
    home = os.environ.get('CUDA_HOME') or os.environ.get('CUDA_PATH')
    if home:
        return os.path.join(home, 'bin', 'nvcc')
    return shutil.which('nvcc') or '/usr/local/cuda/bin/nvcc'


def gather_facts():
    """The facts of this machine (imports torch; may initialise CUDA)."""
    import torch
    nvcc = find_nvcc()
    try:
        nvcc_output = subprocess.run([nvcc, '--version'], check=True,
                                     capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        nvcc_output = None
    caps = ()
    if torch.version.cuda and torch.cuda.is_available():
        caps = tuple('%d.%d' % torch.cuda.get_device_capability(i)
                     for i in range(torch.cuda.device_count()))
    return Facts(
        torch_version=torch.__version__, torch_cuda=torch.version.cuda,
        nvcc_output=nvcc_output, arch_env=os.environ.get('TORCH_CUDA_ARCH_LIST'),
        gpu_caps=caps, python_tag='cp%d%d' % sys.version_info[:2],
        platform=re.sub(r'[-.]', '_', sysconfig.get_platform()),
        ops=os.environ.get('VISIONPLUG_MMCV_OPS', 'auto'))


def platform_tags(target):
    """pip ``--platform`` values a ``manylinux_2_N_ARCH`` machine accepts.

    pip matches ``--platform`` exactly, so a glibc 2.28 target lists every
    older manylinux tag too (and the legacy aliases 2014/2010/1).
    """
    match = re.fullmatch(r'manylinux_2_(\d+)_(\w+)', target)
    if not match:
        raise ValueError(f'platform {target!r}: expected manylinux_2_N_ARCH, '
                         f'e.g. manylinux_2_28_x86_64')
    glibc, arch = int(match[1]), match[2]
    legacy = {17: 'manylinux2014', 12: 'manylinux2010', 5: 'manylinux1'}
    tags = []
    for minor in range(glibc, 4, -1):
        tags.append(f'manylinux_2_{minor}_{arch}')
        if minor == 17 or minor in legacy and arch in ('x86_64', 'i686'):
            tags.append(f'{legacy[minor]}_{arch}')
    return tags


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = parser.add_subparsers(dest='command', required=True)
    sub.add_parser('plan').add_argument('mmcv_version')
    sub.add_parser('platforms').add_argument('target')
    args = parser.parse_args(argv)
    try:
        if args.command == 'platforms':
            print('\n'.join(platform_tags(args.target)))
            return 0
        result = plan(gather_facts(), args.mmcv_version)
    except ValueError as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    for name in ('flavour', 'cuda', 'arch_list', 'key', 'reason'):
        print(f'{name}={shlex.quote(getattr(result, name) or "")}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
