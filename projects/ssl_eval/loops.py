"""Validation / test loops that evaluate frozen backbone features by kNN."""
from typing import Dict, Union

import torch
from mmengine.runner import TestLoop, ValLoop
from mmengine.runner.amp import autocast
from mmpretrain.registry import LOOPS
from torch.utils.data import DataLoader

from .features import FEAT_REDUCE, batch_features, extract_features


class _KNNLoopMixin:
    """Shared part: build the bank loader, extract the bank, then run the
    queries through ``extract_feat`` and the evaluator."""

    def _setup(self, bank_dataloader, feat_reduce):
        if bank_dataloader is None:
            raise ValueError(
                f'{type(self).__name__} needs `bank_dataloader`: the '
                'labelled train set with the test pipeline')
        if feat_reduce not in FEAT_REDUCE:
            raise ValueError(f'{type(self).__name__}: feat_reduce must be '
                             f'one of {FEAT_REDUCE}, got {feat_reduce!r}')
        self.feat_reduce = feat_reduce
        if isinstance(bank_dataloader, dict):
            bank_dataloader = self.runner.build_dataloader(
                bank_dataloader, seed=self.runner.seed)
        elif not isinstance(bank_dataloader, DataLoader):
            raise TypeError('bank_dataloader must be a dict or a DataLoader')
        self.bank_dataloader = bank_dataloader
        if not any(hasattr(m, 'set_bank') for m in self.evaluator.metrics):
            raise ValueError(
                f'{type(self).__name__}: the evaluator has no kNN metric; '
                "use dict(type='KNNAccuracy')")

    def _run(self, stage: str) -> Dict[str, float]:
        runner = self.runner
        runner.call_hook(f'before_{stage}')
        runner.call_hook(f'before_{stage}_epoch')
        model = runner.model
        model.eval()
        with torch.no_grad(), autocast(enabled=self.fp16):
            bank, bank_labels = extract_features(model, self.bank_dataloader,
                                                 self.feat_reduce)
        for metric in self.evaluator.metrics:
            if hasattr(metric, 'set_bank'):
                metric.set_bank(bank, bank_labels)
        for idx, data_batch in enumerate(self.dataloader):
            runner.call_hook(f'before_{stage}_iter', batch_idx=idx,
                             data_batch=data_batch)
            with torch.no_grad(), autocast(enabled=self.fp16):
                feats, labels = batch_features(model, data_batch,
                                               self.feat_reduce)
            outputs = [dict(feat=f, gt_label=y.reshape(1))
                       for f, y in zip(feats, labels)]
            self.evaluator.process(data_samples=outputs,
                                   data_batch=data_batch)
            runner.call_hook(f'after_{stage}_iter', batch_idx=idx,
                             data_batch=data_batch, outputs=outputs)
        metrics = self.evaluator.evaluate(len(self.dataloader.dataset))
        runner.call_hook(f'after_{stage}_epoch', metrics=metrics)
        runner.call_hook(f'after_{stage}')
        return metrics


@LOOPS.register_module()
class KNNValLoop(_KNNLoopMixin, ValLoop):
    """Validation by weighted kNN on frozen backbone features.

    Before the queries (``val_dataloader``) it extracts the features of
    ``bank_dataloader`` (the labelled train set, test pipeline) with the
    model's ``extract_feat`` and hands them to every metric with a
    ``set_bank`` method (:class:`KNNAccuracy`). Works for any mmpretrain
    model with ``extract_feat`` (SSL algorithms, classifiers).

    Args:
        runner: The runner.
        dataloader (dict | DataLoader): The queries (val set).
        evaluator (dict | list | Evaluator): Must contain a KNNAccuracy.
        bank_dataloader (dict | DataLoader): The labelled bank.
        feat_reduce (str): How a backbone output becomes one vector:
            ``auto`` (average-pool maps; class token of ViTs with one, else
            token mean), ``avgpool``, ``cls``, ``mean`` or ``none``.
        fp16 (bool): Extract under autocast. Defaults to False.
    """

    def __init__(self, runner, dataloader: Union[DataLoader, Dict],
                 evaluator, bank_dataloader: Union[DataLoader, Dict] = None,
                 feat_reduce: str = 'auto', fp16: bool = False) -> None:
        super().__init__(runner, dataloader, evaluator, fp16)
        self._setup(bank_dataloader, feat_reduce)

    def run(self) -> dict:
        return self._run('val')


@LOOPS.register_module()
class KNNTestLoop(_KNNLoopMixin, TestLoop):
    """:class:`KNNValLoop` for ``runner.test()`` (same arguments)."""

    def __init__(self, runner, dataloader: Union[DataLoader, Dict],
                 evaluator, bank_dataloader: Union[DataLoader, Dict] = None,
                 feat_reduce: str = 'auto', fp16: bool = False) -> None:
        super().__init__(runner, dataloader, evaluator, fp16)
        self._setup(bank_dataloader, feat_reduce)

    def run(self) -> dict:
        return self._run('test')
