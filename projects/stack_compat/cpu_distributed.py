"""Distributed training on CPU-only machines (gloo).

mmengine 0.10.7 assumes a GPU per process: ``_init_dist_pytorch`` always
calls ``torch.cuda.set_device`` and the runner passes
``device_ids=[LOCAL_RANK]`` to ``MMDistributedDataParallel``, which torch
refuses for a CPU module. :func:`install` skips the first without CUDA and
drops the device ids for a module whose parameters live on the CPU; GPU runs
are unchanged.
"""
import functools

import torch
import torch.distributed as torch_dist
from mmengine.dist import utils as dist_utils
from mmengine.model.wrappers import distributed as wrappers


def _cpu_aware_init_dist(init):
    @functools.wraps(init)
    def init_dist(backend='nccl', init_backend='torch', **kwargs):
        if torch.cuda.is_available() or init_backend != 'torch':
            return init(backend, init_backend=init_backend, **kwargs)
        torch_dist.init_process_group(backend=backend, **kwargs)
    init_dist.visionplug_patched = True
    return init_dist


def _cpu_aware_ddp_init(init):
    @functools.wraps(init)
    def __init__(self, module, **kwargs):
        params = list(module.parameters())
        if params and params[0].device.type == 'cpu':
            kwargs.pop('device_ids', None)
            kwargs.pop('output_device', None)
        init(self, module=module, **kwargs)
    __init__.visionplug_patched = True
    return __init__


def install():
    """Apply both fixes (idempotent)."""
    if not hasattr(dist_utils._init_dist_pytorch, 'visionplug_patched'):
        dist_utils._init_dist_pytorch = _cpu_aware_init_dist(
            dist_utils._init_dist_pytorch)
    ddp = wrappers.MMDistributedDataParallel
    if not hasattr(ddp.__init__, 'visionplug_patched'):
        ddp.__init__ = _cpu_aware_ddp_init(ddp.__init__)
