"""tools/misc/env_key.py: how mmcv is built and the key of its wheel cache."""
import importlib.util
from dataclasses import replace
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location(
    'env_key', ROOT / 'tools/misc/env_key.py')
env_key = importlib.util.module_from_spec(spec)
spec.loader.exec_module(env_key)

NVCC_124 = ('nvcc: NVIDIA (R) Cuda compiler driver\n'
            'Cuda compilation tools, release 12.4, V12.4.131\n')
LOGIN = env_key.Facts(  # a CUDA toolkit and a CUDA torch, but no GPU
    torch_version='2.5.1+cu124', torch_cuda='12.4', nvcc_output=NVCC_124,
    arch_env=None, gpu_caps=(), python_tag='cp311', platform='linux_x86_64')
GPU = replace(LOGIN, gpu_caps=('9.0', '8.0', '9.0'))


def plan(facts):
    return env_key.plan(facts, '2.1.0')


def test_login_node_builds_cpu_ops_and_says_why():
    p = plan(LOGIN)
    assert (p.flavour, p.cuda, p.arch_list) == ('cpu', None, None)
    assert p.key == ('mmcv2.1.0-torch2.5.1+cu124-cpu-nosm-cpu-ops-cp311-'
                     'linux_x86_64')
    assert 'no visible GPU' in p.reason


def test_gpu_node_builds_cuda_ops_for_its_gpus():
    p = plan(GPU)
    assert (p.flavour, p.cuda, p.arch_list) == ('cuda', '12.4', '8.0;9.0')
    assert p.key == ('mmcv2.1.0-torch2.5.1+cu124-cu12.4-sm8.0_9.0-cuda-ops-'
                     'cp311-linux_x86_64')


def test_key_separates_every_build_input():
    variants = [LOGIN, GPU, replace(GPU, gpu_caps=('8.0',)),
                replace(GPU, arch_env='9.0'),
                replace(GPU, torch_version='2.5.1+cu121', torch_cuda='12.1'),
                replace(GPU, torch_version='2.5.1'),
                replace(GPU, python_tag='cp312'),
                replace(GPU, platform='linux_aarch64')]
    keys = [plan(f).key for f in variants]
    assert len(set(keys)) == len(keys)


def test_arch_list_env_wins_and_is_normalised():
    p = plan(replace(GPU, arch_env=' 8.6 9.0+PTX;8.6 '))
    assert p.arch_list == '8.6;9.0+PTX'
    assert 'TORCH_CUDA_ARCH_LIST' in p.reason
    # on a login node an explicit arch list asks for CUDA ops
    assert plan(replace(LOGIN, arch_env='Hopper')).flavour == 'cuda'


@pytest.mark.parametrize('value', ['sm_90', '9', '9.0;x'])
def test_bad_arch_list_names_the_value(value):
    with pytest.raises(ValueError, match='TORCH_CUDA_ARCH_LIST=') as err:
        plan(replace(GPU, arch_env=value))
    assert repr(value) in str(err.value)


def test_forced_cuda_without_gpu_uses_the_stated_default_list():
    p = plan(replace(LOGIN, ops='cuda'))
    assert p.flavour == 'cuda'
    assert p.arch_list == '7.0;7.5;8.0;8.6;8.9;9.0'
    assert 'default list for CUDA 12.4' in p.reason


@pytest.mark.parametrize('cuda, archs', [
    ('11.7', '7.0;7.5;8.0;8.6'), ('11.8', '7.0;7.5;8.0;8.6;8.9;9.0'),
    ('12.8', '7.0;7.5;8.0;8.6;8.9;9.0;10.0;12.0'),
    ('13.0', '7.5;8.0;8.6;8.9;9.0;10.0;12.0')])
def test_default_arch_list_follows_nvcc(cuda, archs):
    assert env_key.default_arch_list(cuda) == archs


def test_cpu_torch_or_no_nvcc_builds_cpu_ops():
    assert plan(replace(GPU, torch_version='2.5.1', torch_cuda=None)).reason \
        == 'CPU ops: torch 2.5.1 is a CPU build'
    assert 'no nvcc' in plan(replace(GPU, nvcc_output=None)).reason
    assert plan(replace(GPU, ops='cpu')).flavour == 'cpu'


def test_forced_cuda_without_toolkit_is_an_error():
    with pytest.raises(ValueError, match='VISIONPLUG_MMCV_OPS=cuda, but no nvcc'):
        plan(replace(GPU, ops='cuda', nvcc_output=None))
    with pytest.raises(ValueError, match="VISIONPLUG_MMCV_OPS='gpu'"):
        plan(replace(GPU, ops='gpu'))


def test_major_cuda_mismatch_is_an_error():
    nvcc_118 = 'Cuda compilation tools, release 11.8, V11.8.89'
    with pytest.raises(ValueError, match=r'nvcc is CUDA 11\.8 but torch '
                       r'2\.5\.1\+cu124 was built with CUDA 12\.4'):
        plan(replace(GPU, nvcc_output=nvcc_118))
    # a minor mismatch builds (torch's extension builder only warns)
    assert plan(replace(GPU, nvcc_output=NVCC_124.replace('12.4', '12.6'))
                ).cuda == '12.6'


@pytest.mark.parametrize('version, ok', [
    ('2.3.1', False), ('2.4.0', True), ('2.11.0+cu130', True),
    ('2.13.0', True), ('2.14.1', False)])
def test_supported_torch_range(version, ok):
    facts = replace(GPU, torch_version=version)
    if ok:
        assert plan(facts).flavour == 'cuda'
    else:
        with pytest.raises(ValueError, match=f'torch {version} is not '
                           'supported.*2.4 to 2.13'):
            plan(facts)


def test_nvcc_release():
    assert env_key.nvcc_release(NVCC_124) == '12.4'
    with pytest.raises(ValueError, match='cannot read the CUDA release'):
        env_key.nvcc_release('command not found')


def test_platform_tags_cover_older_glibc_and_legacy_aliases():
    tags = env_key.platform_tags('manylinux_2_28_x86_64')
    assert tags[0] == 'manylinux_2_28_x86_64'
    for tag in ('manylinux_2_27_x86_64', 'manylinux_2_17_x86_64',
                'manylinux2014_x86_64', 'manylinux2010_x86_64',
                'manylinux1_x86_64', 'manylinux_2_5_x86_64'):
        assert tag in tags
    assert 'manylinux_2_29_x86_64' not in tags
    arm = env_key.platform_tags('manylinux_2_17_aarch64')
    assert 'manylinux2014_aarch64' in arm
    assert not any(t.startswith(('manylinux2010', 'manylinux1_')) for t in arm)
    with pytest.raises(ValueError, match="'linux_x86_64'"):
        env_key.platform_tags('linux_x86_64')
