"""Choice of the implementation per device: fused Triton kernels on CUDA,
the blocked PyTorch paths on CPU (and as the reference of the kernels).

Triton is imported lazily, on the first CUDA call; without it (or for
float64 logits) the PyTorch paths run on CUDA too, unchunked.
"""
import functools
import importlib.util

import torch

BACKENDS = ('auto', 'torch', 'triton')
# elements (pixels x classes) per block of the PyTorch paths on CPU: sized
# for the caches; on other devices one block (blocking only adds launches)
CPU_CHUNK_ELEMS = 1 << 18


@functools.lru_cache(maxsize=None)
def triton_available():
    """Whether triton can be imported (checked once, without importing)."""
    return importlib.util.find_spec('triton') is not None


def check_backend(backend):
    if backend not in BACKENDS:
        raise ValueError(f'backend must be one of {BACKENDS}, got '
                         f'{backend!r}')
    if backend == 'triton' and not triton_available():
        raise ImportError("backend='triton' needs the triton package")


def use_triton(logits, backend='auto'):
    """Whether the fused kernels compute this call: always for ``'triton'``
    (CPU tensors then need ``TRITON_INTERPRET=1``), for ``'auto'`` on
    float32 CUDA tensors when triton is installed."""
    check_backend(backend)
    if backend != 'auto':
        return backend == 'triton'
    return (logits.is_cuda and logits.dtype == torch.float32 and
            triton_available())


def chunk_elems_for(logits, chunk_elems=None):
    """``chunk_elems`` if given, else the device default (see above)."""
    if chunk_elems is not None:
        return int(chunk_elems)
    return CPU_CHUNK_ELEMS if logits.device.type == 'cpu' else 1 << 62
