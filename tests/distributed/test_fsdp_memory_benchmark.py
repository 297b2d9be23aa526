"""The FSDP vs DDP memory benchmark (a step of gpu_benchmarks.sh) says
clearly that it needs CUDA; its table reports the per-GPU peaks and ratio."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / 'tools/analysis_tools/benchmark_fsdp_memory.py'
sys.path.insert(0, str(SCRIPT.parent))

from benchmark_fsdp_memory import GiB, table  # noqa: E402


@pytest.mark.skipif(torch.cuda.is_available(), reason='has a GPU')
def test_without_gpu_exits_with_a_message():
    out = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 2
    assert 'needs CUDA' in out.stderr and 'torchrun' in out.stderr


def test_gpu_benchmarks_runs_it_on_every_gpu():
    text = (ROOT / 'tools/analysis_tools/gpu_benchmarks.sh').read_text()
    assert 'benchmark_fsdp_memory.py' in text
    assert '--nproc_per_node="$(nvidia-smi -L | wc -l)"' in text


def test_table_ratio_of_the_largest_per_gpu_peaks():
    results = {
        'fsdp': [dict(allocated=3 * GiB, reserved=4 * GiB, seconds=1.0),
                 dict(allocated=5 * GiB, reserved=6 * GiB, seconds=1.0)],
        'ddp': [dict(allocated=20 * GiB, reserved=22 * GiB, seconds=0.5),
                dict(allocated=None, reserved=None, seconds=None)]}
    text = table(results, 2)
    assert '| fsdp | 1 | 5.00 | 6.00 | 1.000 |' in text
    assert '| ddp | 1 | OOM | OOM | - |' in text
    # an OOM rank makes DDP's peak unbounded: ratio 0
    assert 'FSDP / DDP on 2 GPU(s): 0.000' in text
    results['ddp'][1] = dict(allocated=20 * GiB, reserved=22 * GiB,
                             seconds=0.5)
    assert 'FSDP / DDP on 2 GPU(s): 0.250' in table(results, 2)
