"""UniGrad's unified gradient, its surrogate loss and the correlation EMA.

For the online normalised feature ``u1`` of view 1 and the momentum
branch's normalised feature ``u2m`` of view 2, UniGrad prescribes the
gradient

.. math::

    \\frac{\\partial L}{\\partial u_1} = -u_2^m + \\lambda F u_1,

where ``F`` is a moving average of the momentum branch's feature
correlation matrix. It is the gradient of the objective

.. math::

    L = \\mathbb{E}\\Big[-\\cos(u_1, u_2^m)
        + \\frac{\\lambda}{2} \\sum_v \\rho_v \\cos^2(u_1, v)\\Big]
      = \\mathbb{E}\\Big[-u_1^\\top u_2^m + \\frac{\\lambda}{2}
        u_1^\\top F u_1\\Big],

with ``F = sum_v rho_v v v^T`` held constant. Autograd is fed the closed
form through the surrogate ``<stopgrad(g), u1>`` (as in the official
code); the returned scalar has the surrogate's gradient but the
objective's value.
"""
from typing import Tuple

import torch
from mmengine.dist import all_reduce


def batch_correlation(z1m: torch.Tensor, z2m: torch.Tensor) -> torch.Tensor:
    """Correlation of the momentum features of both views.

    ``(z1m^T z1m + z2m^T z2m) / (2N)``, averaged over processes when
    distributed training is initialised.

    Args:
        z1m (Tensor): Normalised momentum features of view 1, ``(N, D)``.
        z2m (Tensor): Normalised momentum features of view 2, ``(N, D)``.

    Returns:
        Tensor: The symmetric ``(D, D)`` batch correlation (no grad).
    """
    if z1m.shape != z2m.shape or z1m.dim() != 2:
        raise ValueError('z1m and z2m must both have shape (N, D), got '
                         f'{tuple(z1m.shape)} and {tuple(z2m.shape)}')
    with torch.no_grad():
        corr = (z1m.t() @ z1m + z2m.t() @ z2m) / (2 * z1m.shape[0])
        all_reduce(corr, op='mean')
    return corr


def ema_correlation(corr: torch.Tensor, batch_corr: torch.Tensor, rho: float,
                    initialized: bool) -> torch.Tensor:
    """Moving average of the correlation matrix.

    ``F <- batch_corr`` on the first update, afterwards
    ``F <- rho * F + (1 - rho) * batch_corr``.

    Args:
        corr (Tensor): The current ``F``.
        batch_corr (Tensor): The batch correlation of this step.
        rho (float): EMA coefficient in ``[0, 1)``.
        initialized (bool): Whether ``F`` already holds an average.

    Returns:
        Tensor: The new ``F`` (detached).
    """
    if not initialized:
        return batch_corr.detach().clone()
    return rho * corr + (1 - rho) * batch_corr.detach()


def unigrad_gradient(u1: torch.Tensor, u2m: torch.Tensor,
                     corr: torch.Tensor, lambd: float) -> torch.Tensor:
    """Closed-form per-sample gradient ``-u2m + lambd * F u1`` (no grad)."""
    with torch.no_grad():
        return -u2m + lambd * u1 @ corr.t()


def unigrad_objective(u1: torch.Tensor, u2m: torch.Tensor, corr: torch.Tensor,
                      lambd: float) -> torch.Tensor:
    """Objective ``mean_i[-u1_i.u2m_i + lambd / 2 * u1_i^T F u1_i]``."""
    return (-(u1 * u2m).sum(-1) +
            0.5 * lambd * ((u1 @ corr) * u1).sum(-1)).mean()


def unigrad_loss(z1: torch.Tensor, z2: torch.Tensor, z1m: torch.Tensor,
                 z2m: torch.Tensor, corr: torch.Tensor,
                 lambd: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """Symmetrised UniGrad loss over both views.

    The returned loss has gradient ``0.5 / N * (-z2m_i + lambd * F z1_i)``
    w.r.t. ``z1_i`` (and symmetrically for ``z2``), exactly the surrogate
    ``0.5 * (mean_i <g1_i, z1_i> + mean_i <g2_i, z2_i>)`` of the official
    code, while its value is the objective
    ``0.5 * (L(z1, z2m) + L(z2, z1m))`` (see :func:`unigrad_objective`).

    Args:
        z1, z2 (Tensor): Normalised online features of both views, (N, D).
        z1m, z2m (Tensor): Normalised momentum features (no grad), (N, D).
        corr (Tensor): Symmetric ``F`` of shape (D, D), used as a constant.
        lambd (float): Weight of the negative (decorrelation) gradient.

    Returns:
        tuple[Tensor, Tensor]: The loss and the mean positive similarity
        ``0.5 * (mean <z1, z2m> + mean <z2, z1m>)`` (detached).
    """
    corr = corr.detach()
    z1m, z2m = z1m.detach(), z2m.detach()
    g1 = unigrad_gradient(z1, z2m, corr, lambd)
    g2 = unigrad_gradient(z2, z1m, corr, lambd)
    surrogate = 0.5 * ((g1 * z1).sum(-1).mean() + (g2 * z2).sum(-1).mean())
    with torch.no_grad():
        objective = 0.5 * (unigrad_objective(z1, z2m, corr, lambd) +
                           unigrad_objective(z2, z1m, corr, lambd))
        pos_sim = 0.5 * ((z1 * z2m).sum(-1).mean() +
                         (z2 * z1m).sum(-1).mean())
    loss = surrogate - surrogate.detach() + objective
    return loss, pos_sim
