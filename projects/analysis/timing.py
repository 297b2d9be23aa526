"""Inference time, training-step time and peak memory of a config's model,
and the table that compares configs measured in one run.

A measurement uses batches of the config's own pipelines (the val pipeline
for inference, the train pipeline for the training step) on its dataset,
another root, or a synthetic dataset of the same format. After ``warmup``
untimed calls of each kind, ``iters`` timed calls give the median time.

Peak memory: on CUDA ``torch.cuda.max_memory_allocated`` above the memory
allocated before the timed calls (it costs nothing, so it spans them); on
the CPU the peak of the tensors live during one more, untimed call of each
kind (:class:`~projects.analysis.memory.LiveTensorPeak`, which slows the
call down); so several configs can be measured in one process. CPU timings
on a shared machine are noisy: compare the ratios of one run.

An evaluation-only config (no ``train_dataloader``, e.g. a kNN config run
by ``KNNTestLoop``) has no training step; its inference is the loop's
feature extraction (``projects.ssl_eval.features.batch_features``).
"""
import contextlib
import copy
import fcntl
import os
import shutil
import time

import torch
from mmengine.logging import MessageHub
from mmengine.registry import DefaultScope

from .memory import PeakMemory
from .samples import (build_dataset, build_model, check_data_root,
                      dataset_kind, dataset_roots, set_data_root,
                      synthetic_data_root, take_batch)

COLUMNS = ('config', 'params (M)', 'infer (ms)', 'train step (ms)',
           'infer peak (MB)', 'train peak (MB)')
RATIO_KEYS = ('infer_ms', 'train_ms', 'infer_peak_mb', 'train_peak_mb')


@contextlib.contextmanager
def _file_lock(path):
    with open(path, 'w') as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def prepare_data(cfg, data_root=None, tmp_dir=None):
    """Point ``cfg`` at ``data_root``; or point each of its datasets whose
    own root is missing at a synthetic dataset of the same format under
    ``tmp_dir`` (a validation ``ConcatDataset`` of COCO captions and
    ImageNet gets one of each).

    The synthetic dataset of each format is written once into
    ``tmp_dir/<kind>[_real]`` and shared by the configs (and processes:
    a file lock serialises the writers, a marker file flags a finished
    one). A dataset whose root names a synthetic dataset gets the small
    images of the tiny configs, any other one the real dataset's image size.
    Returns the synthetic root of the first moved dataset (``None``: the
    config's own roots).
    """
    if data_root is not None:
        set_data_root(cfg, data_root)
        return str(data_root)
    phase = 'train' if cfg.get('train_dataloader') else 'test'
    missing = {root: ds for root, ds in dataset_roots(cfg).items()
               if not os.path.isdir(root)}
    if not missing or tmp_dir is None:
        check_data_root(cfg, phase)
        return None
    os.makedirs(tmp_dir, exist_ok=True)
    first = None
    for prev, ds in missing.items():
        kind = dataset_kind(ds)
        if kind is None:
            raise FileNotFoundError(
                f'data root {prev} does not exist and no synthetic dataset '
                f'has the format of {ds.get("type")!r}')
        real_size = 'synthetic' not in str(ds)
        root = os.path.join(str(tmp_dir), kind + '_real' * real_size)
        with _file_lock(root + '.lock'):
            if not os.path.exists(os.path.join(root, '.complete')):
                shutil.rmtree(root, ignore_errors=True)
                synthetic_data_root(kind, root, real_size=real_size)
                open(os.path.join(root, '.complete'), 'w').close()
        set_data_root(cfg, root, prev=prev)
        first = first or root
    return first


def _optim_wrapper(cfg, model, device):
    from mmengine.optim import build_optim_wrapper
    ow = copy.deepcopy(cfg.optim_wrapper)
    if ow.get('type') == 'AmpOptimWrapper' and device.type == 'cpu':
        ow['type'] = 'OptimWrapper'  # AMP asserts a GPU
        ow.pop('loss_scale', None)
        ow.pop('dtype', None)
    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope') or 'mmengine'):
        return build_optim_wrapper(model, ow)


def _timed(fn, iters, device):
    times = []
    for i in range(iters):
        if device.type == 'cuda':
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn(i)
        if device.type == 'cuda':
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2] * 1000


def _loader_batch_size(cfg, phase):
    loader = cfg.get(f'{phase}_dataloader') or {}
    if not loader.get('batch_size'):
        raise KeyError(f'{phase}_dataloader has no batch_size; pass one')
    return int(loader['batch_size'])


def _infer_fn(cfg, model, batch):
    """``(call, name)``: the inference call of the config's test loop, or
    of a self-supervised pre-training model (which has no ``predict``
    mode): its ``forward(mode='tensor')`` features of the first view."""
    from mmpretrain.models import BaseSelfSupervisor
    loop = str((cfg.get('test_cfg') or {}).get('type', ''))
    if 'KNN' in loop or 'Feature' in loop:
        from projects.ssl_eval.features import batch_features
        reduce = cfg.test_cfg.get('feat_reduce', 'auto')
        return (lambda: batch_features(model, batch, reduce),
                'test loop features')
    if isinstance(model, BaseSelfSupervisor):
        def features():
            inputs = model.data_preprocessor(batch, False)['inputs']
            if isinstance(inputs, (list, tuple)):  # multi-view: the first
                inputs = inputs[0]
            return model(inputs, mode='tensor')
        return features, "forward(mode='tensor')"
    return (lambda: model.test_step(batch)), 'test_step'


def input_shape(batch):
    """``'CxHxW'`` of the first image of a collated batch (a multi-view
    batch: of its first view; BEV: ``'TxNxCxHxW'`` of the first sample)."""
    inputs = batch['inputs']
    bev = isinstance(inputs, dict)
    first = inputs['imgs'] if bev else inputs
    while isinstance(first, (list, tuple)):
        first = first[0]
    shape = tuple(first.shape)
    if len(shape) == (6 if bev else 4):  # stacked by default_collate
        shape = shape[1:]
    return 'x'.join(str(s) for s in shape)


def _scalar_loss(log_vars):
    loss = log_vars.get('loss') if isinstance(log_vars, dict) else None
    return None if loss is None else float(loss)


def measure_config(cfg, batch_size=2, iters=3, warmup=1, device='cpu'):
    """Measure one (data-ready) config; a dict with ``params``,
    ``infer_ms``, ``train_ms``, ``infer_peak_mb``, ``train_peak_mb``,
    ``loss`` (of the last training step), ``amp`` and the batch sizes.

    ``batch_size=None`` takes each dataloader's own (per-GPU) batch size.
    An evaluation-only config gets ``None`` training figures.
    """
    device = torch.device(device)
    torch.manual_seed(0)
    model = build_model(cfg, device)
    if hasattr(model, 'init_weights'):
        model.init_weights()
    trains = bool(cfg.get('train_dataloader'))
    phase = next(p for p in ('val', 'test', 'train')
                 if cfg.get(f'{p}_dataloader'))
    sizes = {p: batch_size or _loader_batch_size(cfg, p)
             for p in {phase, 'train'} if cfg.get(f'{p}_dataloader')}
    val_set = build_dataset(cfg, phase)
    infer, infer_call = _infer_fn(cfg, model, take_batch(
        cfg, val_set, sizes[phase], phase))
    hub = MessageHub.get_current_instance()
    hub.update_info('max_iters', 1000)
    hub.update_info('max_epochs', 100)
    out = dict(params=sum(p.numel() for p in model.parameters()),
               infer_batch=sizes[phase], infer_call=infer_call,
               device=str(device))

    def peak_and_time(fn):
        """Median ms of ``iters`` calls after ``warmup``, peak MB."""
        for i in range(warmup):
            fn(i)
        if device.type == 'cuda':
            with PeakMemory(device) as peak:
                ms = _timed(lambda i: fn(i + warmup), iters, device)
            return ms, peak.mb
        ms = _timed(lambda i: fn(i + warmup), iters, device)
        with PeakMemory(device) as peak:
            fn(warmup + iters)
        return ms, peak.mb

    model.eval()
    with torch.no_grad():
        out['infer_ms'], out['infer_peak_mb'] = peak_and_time(
            lambda _: infer())
    out.update(train_ms=None, train_peak_mb=None, loss=None, amp=False,
               train_batch=None, train_input=None)
    if not trains:
        return out
    train_set = val_set if phase == 'train' else build_dataset(cfg, 'train')
    train_batch = take_batch(cfg, train_set, sizes['train'], 'train')
    optim = _optim_wrapper(cfg, model, device)
    losses = []

    def train(i):
        hub.update_info('iter', i)
        losses.append(_scalar_loss(model.train_step(train_batch, optim)))

    model.train()
    out['train_ms'], out['train_peak_mb'] = peak_and_time(train)
    out.update(loss=losses[-1], train_batch=sizes['train'],
               train_input=input_shape(train_batch),
               amp=type(optim).__name__ == 'AmpOptimWrapper')
    return out


def ratio_rows(rows):
    """Add ``<key>_ratio`` (value / the first row's) to every row that has a
    measurement; the first measured row is the baseline. Row order kept."""
    base = next((r for r in rows if 'error' not in r), None)
    out = []
    for row in rows:
        row = dict(row)
        if base is not None and 'error' not in row:
            for key in RATIO_KEYS:
                ref, val = base[key], row[key]
                row[f'{key}_ratio'] = (
                    None if ref is None or val is None else
                    val / ref if ref > 0 else float('nan'))
        out.append(row)
    return out


def format_table(rows):
    """Markdown table of :func:`ratio_rows` (``value (ratio x)``)."""
    rows = ratio_rows(rows)
    lines = ['| ' + ' | '.join(COLUMNS) + ' |',
             '|' + '---|' * len(COLUMNS)]
    for row in rows:
        if 'error' in row:
            cells = [row['config'], f'error: {row["error"]}'] + [''] * (
                len(COLUMNS) - 2)
        else:
            cells = [row['config'], f'{row["params"] / 1e6:.2f}']
            for key in RATIO_KEYS:
                fmt = '.1f' if key.endswith('ms') else '.0f'
                ratio = row[key + '_ratio']
                cells.append('-' if row[key] is None else
                             f'{row[key]:{fmt}}' if ratio is None else
                             f'{row[key]:{fmt}} ({ratio:.2f}x)')
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)
