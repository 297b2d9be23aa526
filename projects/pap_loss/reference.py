"""The dense formulation of the PAP loss, as in the official code.

It materialises the [K, |P|] matrices and lets autograd differentiate them:
the readable definition that tests and the benchmark compare
:func:`projects.pap_loss.pap_loss` against. Not for training.
"""
import torch



def _h(fn, s_rows, s_cols):
    if fn == 'sigmoid':
        return torch.sigmoid(s_rows[:, None] - s_cols[None, :])
    if fn is None:  # exact step, 1/2 at ties
        return torch.sign(s_rows[:, None] - s_cols[None, :]) / 2 + 0.5
    x = ((s_rows[:, None] - s_cols[None, :]) / 2 + 0.5).clamp(0, 1)
    return fn(x)


def pap_loss_dense(logits, targets, loc_quality, functions, num_topk=100000,
                   eps=1e-8):
    """Dense [K, |P|] PAP loss; same arguments as ``pap_loss``."""
    num_classes = logits.shape[1]
    flat_logits, flat_targets = logits.reshape(-1), targets.reshape(-1)
    pos_idx = torch.nonzero(flat_targets == 1).squeeze(1)
    valid_idx = torch.nonzero(flat_targets >= 0).squeeze(1)
    k = min(int(num_topk), valid_idx.numel())
    _, top = torch.topk(flat_logits.detach()[valid_idx], k)
    row_idx = valid_idx[top]
    s_rows, s_cols = flat_logits[row_idx], flat_logits[pos_idx]
    u_rows = torch.where(flat_targets[row_idx] == 1,
                         loc_quality[row_idx // num_classes],
                         torch.zeros_like(loc_quality[:1]))
    u_cols = loc_quality[pos_idx // num_classes]
    numer = (_h(functions.H2, s_rows, s_cols) *
             (1 - functions.I2(u_rows))[:, None]).sum(0)
    denom = _h(functions.H1, s_rows, s_cols).detach().sum(0)
    per_pos = (1 - functions.I1(u_cols)) + \
        functions.I3(u_cols) * numer / denom.clamp_min(eps)
    return per_pos.sum() / (pos_idx.numel() + 1e-8)
