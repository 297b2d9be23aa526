"""Inference time, training-step time and peak memory of a config's model,
and the table that compares configs measured in one run.

A measurement uses batches of the config's own pipelines (the val pipeline
for inference, the train pipeline for the training step) on its dataset,
another root, or a synthetic dataset of the same format. After ``warmup``
untimed calls of each kind, ``iters`` timed calls give the median time.

Peak memory is measured on one more (untimed) call of each kind:
``torch.cuda.max_memory_allocated`` above the memory allocated before it on
CUDA, the peak of the tensors live during the call on the CPU
(:class:`~projects.analysis.memory.LiveTensorPeak`); so several configs can
be measured in one process. CPU timings on a shared machine are noisy:
compare the ratios of one run.
"""
import copy
import os
import time

import torch
from mmengine.logging import MessageHub
from mmengine.registry import DefaultScope

from .memory import PeakMemory
from .samples import (build_dataset, build_model, check_data_root,
                      set_data_root, synthetic_data_root, synthetic_kind,
                      take_batch)

COLUMNS = ('config', 'params (M)', 'infer (ms)', 'train step (ms)',
           'infer peak (MB)', 'train peak (MB)')
RATIO_KEYS = ('infer_ms', 'train_ms', 'infer_peak_mb', 'train_peak_mb')


def prepare_data(cfg, data_root=None, tmp_dir=None, cache=None):
    """Point ``cfg`` at ``data_root``; or, when its own data root is
    missing, at a synthetic dataset of the same format written under
    ``tmp_dir`` (``cache``: kind -> root, shared between configs).
    Returns the data root used (``None``: the config's own)."""
    if data_root is not None:
        set_data_root(cfg, data_root)
        return str(data_root)
    try:
        check_data_root(cfg, 'train')
        return None
    except FileNotFoundError:
        kind = synthetic_kind(cfg, 'train')
        if kind is None or tmp_dir is None:
            raise
    cache = {} if cache is None else cache
    if kind not in cache:
        cache[kind] = str(synthetic_data_root(kind, os.path.join(
            str(tmp_dir), kind)))
    set_data_root(cfg, cache[kind])
    return cache[kind]


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


def measure_config(cfg, batch_size=2, iters=3, warmup=1, device='cpu'):
    """Measure one (data-ready) config; a dict with ``params``,
    ``infer_ms``, ``train_ms``, ``infer_peak_mb``, ``train_peak_mb``."""
    device = torch.device(device)
    torch.manual_seed(0)
    model = build_model(cfg, device)
    if hasattr(model, 'init_weights'):
        model.init_weights()
    train_set = build_dataset(cfg, 'train')
    train_batch = take_batch(cfg, train_set, batch_size, 'train')
    phase = 'val' if cfg.get('val_dataloader') else 'train'
    val_set = train_set if phase == 'train' else build_dataset(cfg, 'val')
    val_batch = take_batch(cfg, val_set, batch_size, phase)
    optim = _optim_wrapper(cfg, model, device)
    hub = MessageHub.get_current_instance()
    hub.update_info('max_iters', 1000)
    hub.update_info('max_epochs', 100)

    def infer(_):
        with torch.no_grad():
            model.test_step(val_batch)

    def train(i):
        hub.update_info('iter', i)
        model.train_step(train_batch, optim)

    model.eval()
    for _ in range(warmup):
        infer(0)
    infer_ms = _timed(infer, iters, device)
    with PeakMemory(device) as infer_peak:
        infer(0)
    model.train()
    for i in range(warmup):
        train(i)
    train_ms = _timed(lambda i: train(i + warmup), iters, device)
    with PeakMemory(device) as train_peak:
        train(warmup + iters)
    return dict(params=sum(p.numel() for p in model.parameters()),
                infer_ms=infer_ms, train_ms=train_ms,
                infer_peak_mb=infer_peak.mb, train_peak_mb=train_peak.mb,
                batch_size=batch_size, device=str(device))


def ratio_rows(rows):
    """Add ``<key>_ratio`` (value / the first row's) to every row that has a
    measurement; the first measured row is the baseline. Row order kept."""
    base = next((r for r in rows if 'error' not in r), None)
    out = []
    for row in rows:
        row = dict(row)
        if base is not None and 'error' not in row:
            for key in RATIO_KEYS:
                ref = base[key]
                row[f'{key}_ratio'] = row[key] / ref if ref > 0 else float('nan')
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
                cells.append(f'{row[key]:{fmt}} ({row[key + "_ratio"]:.2f}x)')
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)
