"""Linear probe on frozen, pre-extracted features.

The classifier is ``BatchNorm1d(affine=False)`` (the MAE linear-probe neck,
here the train-set statistics) followed by one ``Linear`` layer, trained
full-batch with L-BFGS on the cross-entropy plus an L2 penalty on the
weights. Deterministic for given features; seconds on a CPU for a few
thousand samples.
"""
import torch
import torch.nn.functional as F


def linear_probe(train_feats: torch.Tensor,
                 train_labels: torch.Tensor,
                 test_feats: torch.Tensor,
                 test_labels: torch.Tensor,
                 num_classes: int = None,
                 weight_decay: float = 1e-3,
                 max_iter: int = 200) -> dict:
    """Train on ``train_*`` and return ``dict(top1=...)`` (percent) on
    ``test_*``, plus the train accuracy ``train_top1``.

    Args:
        train_feats (Tensor): ``(N, C)`` features.
        train_labels (Tensor): ``(N,)`` integer labels.
        test_feats (Tensor): ``(M, C)`` features.
        test_labels (Tensor): ``(M,)`` integer labels.
        num_classes (int, optional): Defaults to the largest label + 1.
        weight_decay (float): L2 penalty ``wd / 2 * ||W||^2``.
        max_iter (int): L-BFGS iterations.
    """
    if train_feats.dim() != 2 or test_feats.dim() != 2 or \
            train_feats.shape[1] != test_feats.shape[1]:
        raise ValueError('linear_probe: features must be (N, C) with the '
                         f'same C, got {tuple(train_feats.shape)} and '
                         f'{tuple(test_feats.shape)}')
    if len(train_feats) != len(train_labels) or \
            len(test_feats) != len(test_labels):
        raise ValueError('linear_probe: one label per feature row')
    if num_classes is None:
        num_classes = int(max(train_labels.max(), test_labels.max())) + 1
    x = train_feats.double()
    mean, std = x.mean(0), x.std(0, unbiased=False).clamp_min(1e-6)
    x = (x - mean) / std
    xt = (test_feats.double() - mean) / std
    y, yt = train_labels.long(), test_labels.long()
    weight = torch.zeros(num_classes, x.shape[1], dtype=torch.float64,
                         requires_grad=True)
    bias = torch.zeros(num_classes, dtype=torch.float64, requires_grad=True)
    optim = torch.optim.LBFGS([weight, bias], lr=1, max_iter=max_iter,
                              history_size=20,
                              line_search_fn='strong_wolfe')

    def closure():
        optim.zero_grad()
        loss = F.cross_entropy(x @ weight.T + bias, y) + \
            0.5 * weight_decay * weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optim.step(closure)
    with torch.no_grad():
        train_top1 = ((x @ weight.T + bias).argmax(1) == y).double().mean()
        top1 = ((xt @ weight.T + bias).argmax(1) == yt).double().mean()
    return dict(top1=100. * top1.item(), train_top1=100. * train_top1.item())
