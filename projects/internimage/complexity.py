"""Parameter and FLOP counts in the convention of the official repo.

Official ``get_flops.py``: the framework counter's multiply-accumulates plus
``5 * H * W * P * C`` per DCNv3 core (bilinear sampling of P points over C
channels at H x W). Here the counted part is the convs and linears (torch's
``FlopCounterMode``, divided by 2 for MACs) and the core term is added per
DCNv3 call at its real output size; norms, activations and softmaxes are
not counted. Works on the meta device.
"""
from contextlib import contextmanager
from unittest import mock

import torch
from torch.utils.flop_counter import FlopCounterMode

from . import dcnv3 as dcnv3_module


def count_params(model):
    """Number of parameters (buffers excluded)."""
    return sum(p.numel() for p in model.parameters())


@contextmanager
def count_dcnv3_cores(record):
    """Inside: every DCNv3 core call appends its ``5 * N * H * W * P * C``
    multiply-accumulates to ``record`` and returns a same-shape tensor (so a
    model with InternImage runs on the meta device)."""
    def core(input, offset, mask, kernel_h, kernel_w, *args, **kwargs):
        n, h, w, c = input.shape
        points = mask.shape[-1] // args[7]  # mask: group * P per pixel
        record.append(5 * n * h * w * points * c)
        return input.clone()  # stride 1, pad 1: same shape, no counted op
    with mock.patch.object(dcnv3_module, 'dcnv3_core', core):
        yield


def internimage_flops(model, input_shape=(1, 3, 224, 224), device='meta'):
    """GMACs of ``model`` (any module containing InternImage) on one input.

    Returns ``(total, dcnv3_core_part)`` in multiply-accumulates.
    """
    record = []
    x = torch.empty(input_shape, device=device)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), count_dcnv3_cores(record), counter:
        model(x)
    core = sum(record)
    return counter.get_total_flops() // 2 + core, core
