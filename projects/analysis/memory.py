"""Peak tensor memory of a block of code, on the CPU as on CUDA.

CUDA has ``torch.cuda.max_memory_allocated``; the CPU allocator keeps no
such statistic, and the resident set (``ru_maxrss``) is a process-lifetime
maximum that later, smaller runs cannot move. :class:`LiveTensorPeak`
therefore follows every tensor storage that an ATen op creates inside the
block (a ``TorchDispatchMode``, so the backward pass and the optimizer's
foreach ops are included) until it is freed, and reports the largest sum of
live bytes: the CPU counterpart of ``max_memory_allocated`` minus the memory
allocated at the start. Scratch buffers an op frees before returning and
storages made outside ATen (e.g. mmcv's pybind ops) are not seen.
"""
import torch
from torch.multiprocessing.reductions import StorageWeakRef
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves


class LiveTensorPeak(TorchDispatchMode):
    """``with LiveTensorPeak() as p: ...`` then ``p.peak_bytes`` (largest
    sum of the bytes of storages created in the block and still alive) and
    ``p.live_bytes`` (those alive at the end)."""

    def __init__(self):
        super().__init__()
        self._live = {}
        self.live_bytes = 0
        self.peak_bytes = 0

    def _sweep(self):
        dead = [k for k, (ref, _) in self._live.items() if ref.expired()]
        for key in dead:
            self.live_bytes -= self._live.pop(key)[1]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self._sweep()  # before adding: a freed address may be reused
        for x in tree_leaves(out):
            if not isinstance(x, torch.Tensor) or x.device.type == 'meta':
                continue
            storage = x.untyped_storage()
            ref = StorageWeakRef(storage)
            if ref.cdata in self._live:  # a view or an in-place result
                continue
            size = storage.nbytes()
            self._live[ref.cdata] = (ref, size)
            self.live_bytes += size
            self.peak_bytes = max(self.peak_bytes, self.live_bytes)
        return out

    def __exit__(self, *exc):
        out = super().__exit__(*exc)
        self._sweep()
        return out


class PeakMemory:
    """Peak memory (MB) of the block: ``max_memory_allocated`` above the
    start on CUDA, :class:`LiveTensorPeak` on the CPU; ``.mb`` after."""

    def __init__(self, device):
        self.device = torch.device(device)
        self.mb = None

    def __enter__(self):
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
        else:
            self._mode = LiveTensorPeak().__enter__()
        return self

    def __exit__(self, *exc):
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)
            peak = torch.cuda.max_memory_allocated(self.device) - self._base
        else:
            self._mode.__exit__(*exc)
            peak = self._mode.peak_bytes
        self.mb = max(peak, 0) / 2**20
        return False
