"""SIM's loss: dense regression plus a batch-covariance (UniGrad) term.

For predictions ``p_m`` and LayerNorm-ed targets ``t_m`` (``m = 1..M`` over
all samples and view-2 patches of the batch, ``D`` channels)::

    pos  = 1/M sum_m ||p_m - t_m||^2
    C    = 1/M sum_m t_m t_m^T             (this batch; mean over processes)
    neg  = 1/M sum_m p_m^T C p_m
    loss = (pos + neg_weight * neg) / D

so ``dloss/dp_m = 2 / (M D) * (p_m - t_m + neg_weight * C p_m)``: UniGrad's
gradient with ``lambda = neg_weight`` and ``F = C``. This is the official
``compute_unigrad_loss``; its ``diag(P C P^T).mean()`` (an ``M x M``
matrix, 12544^2 entries per GPU at batch 64) is evaluated here as the
row-wise ``((P C) * P).sum(-1).mean()``, the same number.
"""
from typing import Dict

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.dist import all_reduce
from mmpretrain.registry import MODELS


def target_norm(target: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """LayerNorm without affine over channels (the official
    ``teacher_norm``, ``nn.LayerNorm`` default eps 1e-5)."""
    return F.layer_norm(target, target.shape[-1:], eps=eps)


def target_correlation(target: torch.Tensor) -> torch.Tensor:
    """``C = T^T T / M`` of the flattened ``(M, D)`` targets, averaged over
    processes when distributed training is initialised (no grad)."""
    with torch.no_grad():
        flat = target.reshape(-1, target.shape[-1])
        corr = flat.t() @ flat / flat.shape[0]
        all_reduce(corr, op='mean')
    return corr


def sim_loss(pred: torch.Tensor, target: torch.Tensor,
             neg_weight: float = 0.02,
             eps: float = 1e-5) -> Dict[str, torch.Tensor]:
    """SIM loss of predictions and raw (un-normalised) targets.

    Args:
        pred (Tensor): ``(..., D)`` predictions.
        target (Tensor): ``(..., D)`` target features (momentum branch);
            normalised here by :func:`target_norm`, never differentiated.
        neg_weight (float): Weight of the covariance term. Defaults to 0.02.
        eps (float): Target LayerNorm epsilon. Defaults to 1e-5.

    Returns:
        dict[str, Tensor]: ``loss`` and the detached terms ``pos``, ``neg``.
    """
    if pred.shape != target.shape:
        raise ValueError(f'SIM loss: prediction {tuple(pred.shape)} and '
                         f'target {tuple(target.shape)} differ in shape')
    dim = pred.shape[-1]
    with torch.no_grad():
        t = target_norm(target.detach(), eps).reshape(-1, dim)
    p = pred.reshape(-1, dim)
    corr = target_correlation(t)
    pos = ((p - t)**2).sum(-1).mean()
    neg = ((p @ corr) * p).sum(-1).mean()
    loss = (pos + neg_weight * neg) / dim
    return dict(loss=loss, pos=pos.detach(), neg=neg.detach())


@MODELS.register_module()
class SIMLoss(nn.Module):
    """:func:`sim_loss` as a module, evaluated in fp32 (also under AMP).

    Args:
        neg_weight (float): Weight of the covariance term. Defaults to 0.02.
        eps (float): Target LayerNorm epsilon. Defaults to 1e-5.
    """

    def __init__(self, neg_weight: float = 0.02, eps: float = 1e-5) -> None:
        super().__init__()
        if neg_weight < 0:
            raise ValueError(f'SIMLoss: neg_weight must be >= 0, got '
                             f'{neg_weight}')
        self.neg_weight = float(neg_weight)
        self.eps = float(eps)

    def forward(self, pred: torch.Tensor,
                target: torch.Tensor) -> Dict[str, torch.Tensor]:
        low = (torch.float16, torch.bfloat16)
        pred = pred.float() if pred.dtype in low else pred
        target = target.float() if target.dtype in low else target
        with torch.autocast(device_type=pred.device.type, enabled=False):
            return sim_loss(pred, target, self.neg_weight, self.eps)
