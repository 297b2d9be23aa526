"""Weighted k-nearest-neighbour classification of frozen features.

The protocol of mmselfsup's (and DINO's) kNN evaluation: L2-normalised
features, cosine similarity to every feature of a labelled bank (the train
set), the ``k`` most similar bank entries vote for their class with weight
``exp(similarity / temperature)``; the class scores rank the predictions.
Defaults ``k=20``, ``temperature=0.07``.

Memory is bounded: queries are processed ``query_chunk`` at a time against
``bank_chunk`` bank entries at a time (a running top-k merges the bank
chunks), so at most ``query_chunk x bank_chunk`` similarities exist at once.
"""
from typing import Sequence, Tuple

import torch
import torch.nn.functional as F


def _check(query, bank, bank_labels, k, temperature):
    if query.dim() != 2 or bank.dim() != 2:
        raise ValueError('kNN: features must be 2-D (N, C), got query '
                         f'{tuple(query.shape)} and bank {tuple(bank.shape)}')
    if query.shape[1] != bank.shape[1]:
        raise ValueError(f'kNN: query features have {query.shape[1]} '
                         f'channels, the bank {bank.shape[1]}')
    if bank_labels.shape != (bank.shape[0], ):
        raise ValueError(f'kNN: {bank.shape[0]} bank features but labels of '
                         f'shape {tuple(bank_labels.shape)}')
    if bank.shape[0] == 0:
        raise ValueError('kNN: the feature bank is empty')
    if k < 1:
        raise ValueError(f'kNN: k must be >= 1, got {k}')
    if temperature <= 0:
        raise ValueError(f'kNN: temperature must be > 0, got {temperature}')


@torch.no_grad()
def knn_topk_neighbours(query: torch.Tensor,
                        bank: torch.Tensor,
                        k: int,
                        bank_chunk: int = 65536
                        ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Cosine similarities and indices of the ``k`` most similar bank rows
    of every query row (features already normalised), merging bank chunks
    with a running top-k."""
    k = min(k, bank.shape[0])
    best_sim = best_idx = None
    for start in range(0, bank.shape[0], bank_chunk):
        sim = query @ bank[start:start + bank_chunk].T
        sim, idx = sim.topk(min(k, sim.shape[1]), dim=1)
        idx = idx + start
        if best_sim is not None:
            sim = torch.cat([best_sim, sim], dim=1)
            idx = torch.cat([best_idx, idx], dim=1)
            sim, pos = sim.topk(min(k, sim.shape[1]), dim=1)
            idx = idx.gather(1, pos)
        best_sim, best_idx = sim, idx
    return best_sim, best_idx


@torch.no_grad()
def knn_classify(query: torch.Tensor,
                 bank: torch.Tensor,
                 bank_labels: torch.Tensor,
                 num_classes: int,
                 k: int = 20,
                 temperature: float = 0.07,
                 query_chunk: int = 256,
                 bank_chunk: int = 65536,
                 normalize: bool = True) -> torch.Tensor:
    """Class scores ``(num_query, num_classes)`` of weighted kNN voting.

    ``score[q, c] = sum_{j in top-k(q), label_j = c} exp(cos(q, b_j) / T)``.

    Args:
        query (Tensor): ``(Nq, C)`` features to classify.
        bank (Tensor): ``(Nb, C)`` labelled features (the train set).
        bank_labels (Tensor): ``(Nb,)`` integer labels of ``bank``.
        num_classes (int): Number of classes (columns of the result).
        k (int): Number of neighbours (capped at ``Nb``). Defaults to 20.
        temperature (float): Weighting temperature. Defaults to 0.07.
        query_chunk (int): Queries processed at once. Defaults to 256.
        bank_chunk (int): Bank rows compared at once. Defaults to 65536.
        normalize (bool): L2-normalise both feature sets first (the
            protocol; set False only for features that already are).
    """
    _check(query, bank, bank_labels, k, temperature)
    if query_chunk < 1 or bank_chunk < 1:
        raise ValueError('kNN: chunk sizes must be >= 1')
    bank_labels = bank_labels.long().to(bank.device)
    if bank_labels.numel() and (bank_labels.min() < 0
                                or bank_labels.max() >= num_classes):
        raise ValueError(f'kNN: bank labels must lie in [0, {num_classes})')
    if normalize:
        query = F.normalize(query, dim=1)
        bank = F.normalize(bank, dim=1)
    query = query.to(bank.dtype)
    scores = bank.new_zeros(query.shape[0], num_classes)
    for start in range(0, query.shape[0], query_chunk):
        sim, idx = knn_topk_neighbours(query[start:start + query_chunk], bank,
                                       k, bank_chunk)
        weights = (sim / temperature).exp()
        scores[start:start + query_chunk].scatter_add_(
            1, bank_labels[idx], weights)
    return scores


def topk_accuracy(scores: torch.Tensor, labels: torch.Tensor,
                  topk: Sequence[int] = (1, 5)) -> dict:
    """Top-k accuracies in percent (``k`` capped at the number of classes);
    a query counts as correct at ``k`` when its label is among the ``k``
    highest scores (ties broken by ``torch.topk``)."""
    labels = labels.long().to(scores.device)
    out = {}
    for k in topk:
        kk = min(k, scores.shape[1])
        pred = scores.topk(kk, dim=1).indices
        correct = (pred == labels[:, None]).any(dim=1)
        out[f'top{k}'] = 100.0 * correct.float().mean().item()
    return out


def knn_accuracy(query, query_labels, bank, bank_labels, num_classes=None,
                 k=20, temperature=0.07, topk=(1, 5), **kwargs) -> dict:
    """Top-k accuracies (percent) of :func:`knn_classify`."""
    if num_classes is None:
        num_classes = int(max(bank_labels.max(), query_labels.max())) + 1
    scores = knn_classify(query, bank, bank_labels, num_classes, k,
                          temperature, **kwargs)
    return topk_accuracy(scores, query_labels, topk)
