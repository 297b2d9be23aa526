"""kNN accuracy as an mmengine metric (mmpretrain scope)."""
from typing import List, Optional, Sequence

import torch
from mmengine.evaluator import BaseMetric
from mmpretrain.registry import METRICS

from .knn import knn_classify, topk_accuracy


@METRICS.register_module()
class KNNAccuracy(BaseMetric):
    """Weighted kNN top-k accuracy of frozen features (mmselfsup / DINO
    protocol: L2-normalised features, cosine similarity, the ``k`` nearest
    bank features vote with weight ``exp(sim / temperature)``).

    Each processed sample carries ``feat`` (a ``(C,)`` feature) and
    ``gt_label``; the labelled feature bank (the train set) is given with
    :meth:`set_bank`. :class:`projects.ssl_eval.KNNValLoop` and
    :class:`projects.ssl_eval.KNNTestLoop` extract both with the model's
    ``extract_feat``, so a config only needs::

        val_cfg = dict(type='KNNValLoop', bank_dataloader=...)
        val_evaluator = dict(type='KNNAccuracy', k=20, temperature=0.07)

    Metrics (percent): ``knn/top1``, ``knn/top5`` (one per ``topk``).

    Args:
        k (int): Number of neighbours. Defaults to 20.
        temperature (float): Vote weighting temperature. Defaults to 0.07.
        topk (Sequence[int]): Accuracies to report. Defaults to (1, 5).
        num_classes (int, optional): Defaults to the largest label + 1.
        query_chunk (int): Queries compared at once. Defaults to 256.
        bank_chunk (int): Bank features compared at once. Defaults to 65536.
        device (str): Where the similarities are computed. Defaults to
            ``'cpu'``.
        collect_device (str): ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str): Metric name prefix. Defaults to ``'knn'``.
    """
    default_prefix = 'knn'

    def __init__(self,
                 k: int = 20,
                 temperature: float = 0.07,
                 topk: Sequence[int] = (1, 5),
                 num_classes: Optional[int] = None,
                 query_chunk: int = 256,
                 bank_chunk: int = 65536,
                 device: str = 'cpu',
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if k < 1:
            raise ValueError(f'KNNAccuracy: k must be >= 1, got {k}')
        if temperature <= 0:
            raise ValueError('KNNAccuracy: temperature must be > 0, got '
                             f'{temperature}')
        self.k = int(k)
        self.temperature = float(temperature)
        self.topk = tuple(int(t) for t in topk)
        self.num_classes = num_classes
        self.query_chunk = int(query_chunk)
        self.bank_chunk = int(bank_chunk)
        self.device = device
        self.bank_feats = self.bank_labels = None

    def set_bank(self, feats: torch.Tensor, labels: torch.Tensor) -> None:
        """The labelled features the queries are compared with."""
        if feats.dim() != 2 or labels.shape != (feats.shape[0], ):
            raise ValueError('KNNAccuracy: bank features must be (N, C) with '
                             f'N labels, got {tuple(feats.shape)} and '
                             f'{tuple(labels.shape)}')
        self.bank_feats = feats
        self.bank_labels = labels.long()

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            feat = sample.get('feat')
            label = sample.get('gt_label')
            if feat is None or label is None:
                raise ValueError(
                    'KNNAccuracy: every output needs `feat` and `gt_label`; '
                    "use val_cfg=dict(type='KNNValLoop', ...) (or "
                    "KNNTestLoop), which extracts backbone features")
            label = torch.as_tensor(label).reshape(-1)
            self.results.append((torch.as_tensor(feat).float().cpu(),
                                 int(label[0])))

    def compute_metrics(self, results: List) -> dict:
        if self.bank_feats is None:
            raise RuntimeError(
                'KNNAccuracy has no feature bank: run it through '
                "KNNValLoop/KNNTestLoop (val_cfg=dict(type='KNNValLoop', "
                'bank_dataloader=...)) or call set_bank() first')
        query = torch.stack([r[0] for r in results])
        labels = torch.tensor([r[1] for r in results])
        num_classes = self.num_classes
        if num_classes is None:
            num_classes = int(max(self.bank_labels.max(), labels.max())) + 1
        scores = knn_classify(
            query.to(self.device), self.bank_feats.to(self.device),
            self.bank_labels.to(self.device), num_classes, self.k,
            self.temperature, self.query_chunk, self.bank_chunk)
        return topk_accuracy(scores, labels, self.topk)
