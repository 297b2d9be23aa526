"""MaskDistill head: a linear (or MLP) projection to the teacher's width and
a Smooth-L1 loss averaged over the masked positions only."""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS


def masked_smooth_l1(pred: torch.Tensor, target: torch.Tensor,
                     mask: torch.Tensor, beta: float = 2.0) -> torch.Tensor:
    """Smooth-L1 between ``pred`` and ``target`` at masked positions.

    ``l(d) = 0.5 d^2 / beta`` if ``|d| < beta`` else ``|d| - 0.5 beta``,
    averaged over every channel of every masked token of the batch (the
    official ``SmoothL1Loss(beta)(pred[mask], target[mask])``). Unmasked
    tokens contribute neither to the value nor to the gradient.

    Args:
        pred (Tensor): Predictions, shape (B, L, C).
        target (Tensor): Targets, shape (B, L, C).
        mask (Tensor): 1 (or True) at masked tokens, shape (B, L) or
            (B, H, W) with H * W = L.
        beta (float): Threshold between the quadratic and linear parts.
            Defaults to 2.0 (MaskDistill / G2SD official value).

    Returns:
        Tensor: Scalar loss.
    """
    if pred.shape != target.shape:
        raise ValueError(f'pred {tuple(pred.shape)} and target '
                         f'{tuple(target.shape)} must have the same shape')
    mask = mask.flatten(1).to(torch.bool)
    if mask.shape != pred.shape[:2]:
        raise ValueError(f'mask {tuple(mask.shape)} does not match the '
                         f'(batch, tokens) of pred {tuple(pred.shape[:2])}')
    if not mask.any():
        # keep the graph (and DDP) alive with an exact zero
        return pred.sum() * 0.
    return F.smooth_l1_loss(pred[mask], target[mask], beta=beta)


@MODELS.register_module()
class MaskedSmoothL1Loss(nn.Module):
    """Smooth-L1 over masked tokens (see :func:`masked_smooth_l1`).

    Args:
        beta (float): Smooth-L1 threshold. Defaults to 2.0.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
    """

    def __init__(self, beta: float = 2.0, loss_weight: float = 1.0) -> None:
        super().__init__()
        if beta <= 0:
            raise ValueError(f'beta must be > 0, got {beta}')
        self.beta = beta
        self.loss_weight = loss_weight

    def forward(self, pred: torch.Tensor, target: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        return self.loss_weight * masked_smooth_l1(pred, target, mask,
                                                   self.beta)


@MODELS.register_module()
class MaskDistillHead(BaseModule):
    """Projection from student tokens to teacher features + masked loss.

    The paper's head is one ``Linear(student_dims, teacher_dims)``
    (``num_layers=1``); ``num_layers=2`` gives a Linear-GELU-Linear MLP.

    Args:
        in_channels (int): Student embedding width.
        out_channels (int): Teacher feature width.
        num_layers (int): 1 (linear, official) or 2 (MLP). Defaults to 1.
        hidden_channels (int, optional): MLP width. Defaults to
            ``in_channels``.
        loss (dict): Loss config. Defaults to Smooth-L1 with beta 2.0.
        init_cfg (dict | list[dict], optional): Initialization config.
            Defaults to truncated normal (std 0.02) for Linear layers.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 num_layers: int = 1,
                 hidden_channels: Optional[int] = None,
                 loss: dict = dict(type='MaskedSmoothL1Loss', beta=2.0),
                 init_cfg=dict(type='TruncNormal', layer='Linear', std=0.02,
                               bias=0.)) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_layers == 1:
            self.proj = nn.Linear(in_channels, out_channels)
        elif num_layers == 2:
            hidden = hidden_channels or in_channels
            self.proj = nn.Sequential(
                nn.Linear(in_channels, hidden), nn.GELU(),
                nn.Linear(hidden, out_channels))
        else:
            raise ValueError(f'num_layers must be 1 or 2, got {num_layers}')
        self.loss_module = MODELS.build(loss)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        """Project student patch tokens (B, L, C_s) to (B, L, C_t)."""
        return self.proj(feats)

    def loss(self, feats: torch.Tensor, target: torch.Tensor,
             mask: torch.Tensor) -> torch.Tensor:
        """Loss of the projected student tokens against the targets."""
        return self.loss_module(self(feats), target, mask)
