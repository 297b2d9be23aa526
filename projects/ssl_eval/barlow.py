"""Barlow Twins' loss with a loss weight, for the fair benchmark's shared
SGD (ResNet + SGD group)."""
import torch
from mmpretrain.models.losses import CrossCorrelationLoss
from mmpretrain.registry import MODELS


@MODELS.register_module()
class ScaledCrossCorrelationLoss(CrossCorrelationLoss):
    """mmpretrain's :class:`CrossCorrelationLoss` (Barlow Twins: sum of the
    D squared on-diagonal deviations ``(C_ii - 1)^2`` plus ``lambd`` times
    the sum of the D (D - 1) squared off-diagonal entries) multiplied by
    ``loss_weight``.

    The unweighted loss is a sum over the D x D cross-correlation matrix,
    O(D), while the other losses of the ResNet + SGD group are O(1) means:
    under a shared SGD learning rate it takes a D-times larger step (the
    official recipe uses LARS, whose layer-wise step does not depend on the
    loss scale). The fair benchmark sets ``loss_weight = 1 / D``, which makes
    the loss a per-dimension mean.

    Args:
        lambd (float): The weight of the off-diagonal term.
            Defaults to 0.0051.
        loss_weight (float): The factor of the whole loss. Defaults to 1.
    """

    def __init__(self, lambd: float = 0.0051,
                 loss_weight: float = 1.0) -> None:
        super().__init__(lambd=lambd)
        self.loss_weight = loss_weight

    def forward(self, cross_correlation_matrix: torch.Tensor) -> torch.Tensor:
        return self.loss_weight * super().forward(cross_correlation_matrix)
