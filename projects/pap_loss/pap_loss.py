"""The Parameterized AP Loss (Tao et al., NeurIPS 2021) as an mmdet loss.

For positives i (anchor-class entries with target 1) and rows j (the top
``num_topk`` non-ignored entries by logit), with ``x_ji = clip((s_j - s_i)/2 +
1/2, 0, 1)`` and localisation quality u (0 for negatives)::

    L_i = (1 - I1(u_i)) + I3(u_i) * sum_j H2(x_ji) (1 - I2(u_j))
                                   / sum_j sg[H1(x_ji)]
    loss = sum_i L_i / (|P| + 1e-8)

The sums are computed exactly from sorted logits and prefix sums
(:mod:`.ranking`), never as a [K, |P|] matrix.
"""
import torch
from mmdet.registry import MODELS
from torch import nn

from .functions import (FUNCTION_NAMES, OFFICIAL_ROW_ORDER, PiecewisePoly,
                        theta_to_points)
from .params import load_params
from .ranking import (ranking_sum, ranking_sum_indexed, sigmoid_sum,
                      step_count)

HANDCRAFTED = ('linear', 'square', 'sigmoid')


def _sigmoid_quality(u):
    return torch.sigmoid(2 * u - 1)


class PAPFunctions:
    """H1, H2, I1, I2, I3 of one PAP loss.

    ``H1``/``H2`` are :class:`PiecewisePoly` (``H1=None``: the exact step with
    1/2 at ties; ``'sigmoid'``: sigmoid of the raw logit gap); ``I*`` are
    callables on tensors.
    """

    def __init__(self, H1, H2, I1, I2, I3):  # noqa: N803 (paper names)
        self.H1, self.H2, self.I1, self.I2, self.I3 = H1, H2, I1, I2, I3

    @classmethod
    def from_ctrl_points(cls, rows):
        """From the official ``ctrl_points``: rows H2, I2, I3, I1[, H1] of
        inner control points (12 numbers each); 4 rows mean an exact-step H1.
        """
        if len(rows) not in (4, 5):
            raise ValueError(f'ctrl_points needs 4 or 5 rows ordered '
                             f'{OFFICIAL_ROW_ORDER}, got {len(rows)}')
        fns = {name: PiecewisePoly.from_points(row)
               for name, row in zip(OFFICIAL_ROW_ORDER, rows)}
        fns.setdefault('H1', None)
        return cls(**fns)

    @classmethod
    def from_theta(cls, theta):
        """From search parameters: ``[5, 8]`` theta rows in official order."""
        theta = torch.as_tensor(theta, dtype=torch.float64).reshape(-1, 8)
        return cls.from_ctrl_points([theta_to_points(t).reshape(-1).tolist()
                                     for t in theta])

    @classmethod
    def handcrafted(cls, form):
        """The hand-crafted surrogates: H1 is a (detached) copy of H2."""
        if form == 'linear':
            h = i = PiecewisePoly.linear()
        elif form == 'square':
            h, i = PiecewisePoly.square(), PiecewisePoly.square()
        elif form == 'sigmoid':
            h, i = 'sigmoid', _sigmoid_quality
        else:
            raise ValueError(f'unknown form {form!r}; expected one of '
                             f'{HANDCRAFTED} or control points')
        return cls(H1=h, H2=h, I1=i, I2=i, I3=i)

    def __repr__(self):
        return 'PAPFunctions(' + ', '.join(
            f'{n}={getattr(self, n)!r}' for n in FUNCTION_NAMES) + ')'




def pap_loss(logits, targets, loc_quality, functions, num_topk=100000,
             eps=1e-8):
    """Parameterized AP Loss of one batch.

    Args:
        logits (Tensor): [N, C] raw class logits (sigmoid-style, no
            background column).
        targets (Tensor): [N, C] in {-1, 0, 1}: ignored, negative, positive.
            An anchor has at most one positive class.
        loc_quality (Tensor): [N] localisation quality in [0, 1] of each
            anchor's prediction (used where the anchor is positive).
        functions (PAPFunctions): H1, H2, I1, I2, I3.
        num_topk (int): rows kept, the top entries by logit.
        eps (float): lower bound of the (always positive) denominator.

    Returns:
        Tensor: the scalar loss.
    """
    if logits.shape != targets.shape or loc_quality.shape != logits.shape[:1]:
        raise ValueError(
            f'expected logits and targets [N, C] and loc_quality [N], got '
            f'{tuple(logits.shape)}, {tuple(targets.shape)}, '
            f'{tuple(loc_quality.shape)}')
    num_classes = logits.shape[1]
    flat_logits = logits.reshape(-1)
    flat_targets = targets.reshape(-1)
    pos_idx = torch.nonzero(flat_targets == 1).squeeze(1)
    if pos_idx.numel() == 0:
        return logits.sum() * 0 + loc_quality.sum() * 0
    valid_idx = torch.nonzero(flat_targets >= 0).squeeze(1)
    k = min(int(num_topk), valid_idx.numel())
    _, top = torch.topk(flat_logits.detach()[valid_idx], k, sorted=False)
    row_idx = valid_idx[top]

    s_rows = flat_logits[row_idx]
    row_pos = flat_targets[row_idx] == 1
    u_rows = torch.where(row_pos, loc_quality[row_idx // num_classes],
                         torch.zeros((), dtype=loc_quality.dtype,
                                     device=loc_quality.device))
    w_rows = 1 - functions.I2(u_rows)
    s_cols = flat_logits[pos_idx]
    u_cols = loc_quality[pos_idx // num_classes]

    if functions.H2 == 'sigmoid':
        numer = sigmoid_sum(s_rows, w_rows, s_cols)
    else:
        numer = ranking_sum_indexed(flat_logits, w_rows, row_idx, pos_idx,
                                    functions.H2)
    with torch.no_grad():
        if functions.H1 is None:
            denom = step_count(s_rows, s_cols)
        elif functions.H1 == 'sigmoid':
            denom = sigmoid_sum(s_rows, torch.ones_like(s_rows), s_cols)
        else:
            denom = ranking_sum(s_rows, torch.ones_like(s_rows), s_cols,
                                functions.H1)
    per_pos = (1 - functions.I1(u_cols)) + \
        functions.I3(u_cols) * numer / denom.clamp_min(eps)
    return per_pos.sum() / (pos_idx.numel() + 1e-8)


class _GradScale(torch.autograd.Function):

    @staticmethod
    def forward(ctx, x, scale):
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.scale, None


def grad_scale(x, scale):
    """Identity whose gradient is multiplied by ``scale`` (box branch)."""
    return _GradScale.apply(x, float(scale))


@MODELS.register_module()
class PAPLoss(nn.Module):
    """Registered PAP loss: ``loss(logits, targets, loc_quality)``.

    Args:
        ctrl_points (list, optional): official control-point rows (H2, I2,
            I3, I1[, H1]).
        theta (list, optional): search parameters ``[5, 8]`` instead.
        params_file (str, optional): a parameter file (JSON, see
            :mod:`.params`), e.g. ``projects/pap_loss/params/retinanet.json``
            (relative paths are tried from the working directory, then from
            the repository root).
        form (str): ``'searched'`` (needs exactly one of the three above) or
            a hand-crafted form: ``'linear'``, ``'square'``, ``'sigmoid'``.
        num_topk (int): rows kept (1e5 as released).
        loss_weight (float): multiplies the loss.
    """

    def __init__(self, ctrl_points=None, theta=None, params_file=None,
                 form='searched', num_topk=100000, loss_weight=1.0):
        super().__init__()
        if form == 'searched':
            given = [a is not None for a in (ctrl_points, theta, params_file)]
            if sum(given) != 1:
                raise ValueError('form="searched" needs exactly one of '
                                 'ctrl_points, theta and params_file')
            if params_file is not None:
                ctrl_points, _ = load_params(params_file)
            self.functions = (PAPFunctions.from_theta(theta)
                              if theta is not None else
                              PAPFunctions.from_ctrl_points(ctrl_points))
        else:
            self.functions = PAPFunctions.handcrafted(form)
        self.form = form
        self.num_topk = int(num_topk)
        self.loss_weight = loss_weight

    def forward(self, logits, targets, loc_quality):
        return self.loss_weight * pap_loss(logits, targets, loc_quality,
                                           self.functions, self.num_topk)
