"""The fair SSL benchmark on the SSL patterns set: pre-train each method for
several seeds, evaluate the frozen backbone by kNN and by a linear probe,
and compare with the randomly initialised backbone of the same config and
seed, measured in the same run.

One (method, seed) = one mmengine ``Runner`` training run in this process,
then feature extraction (train split = kNN bank / probe training set, val
split = queries) of the trained and of the randomly initialised model.
Features: ResNets average-pool their last map; ViTs give their class
token (the same for every ViT method; MAE's linear-probe protocol). Each
run writes ``<work_dir>/runs/<method>_s<seed>.json`` atomically; finished
runs are skipped on a rerun, and processes running different seeds can
share a work dir.
"""
import math
import statistics
import uuid
from pathlib import Path

import torch

BENCH = 'configs/ssl_benchmark'
TINY = '_fair_1xb32-200it_synthetic-imagenet.py'  # ResNet + SGD group
TINY_VIT = '_fair_1xb32-1000it_synthetic-imagenet.py'  # ViT + AdamW group
# name -> (config, group, method whose checkpoint of the same seed is the
# frozen teacher, config key of the teacher checkpoint)
METHODS = {
    'MoCo v2': (f'{BENCH}/mocov2_resnet18-tiny{TINY}', 'ResNet+SGD', None),
    'BYOL': (f'{BENCH}/byol_resnet18-tiny{TINY}', 'ResNet+SGD', None),
    'SimSiam': (f'{BENCH}/simsiam_resnet18-tiny{TINY}', 'ResNet+SGD', None),
    'Barlow Twins': (f'{BENCH}/barlowtwins_resnet18-tiny{TINY}',
                     'ResNet+SGD', None),
    'UniGrad': (f'{BENCH}/unigrad_resnet18-tiny{TINY}', 'ResNet+SGD', None),
    'MAE': (f'{BENCH}/mae_vit-nano-p8-tiny{TINY_VIT}', 'ViT+AdamW', None),
    'BEiT v2': (f'{BENCH}/beitv2_vit-nano-p8-tiny{TINY_VIT}', 'ViT+AdamW',
                None),
    'SIM': (f'{BENCH}/sim_vit-nano-p8-tiny{TINY_VIT}', 'ViT+AdamW', None),
    'MaskDistill': (f'{BENCH}/maskdistill_vit-nano-p8-tiny_mae-teacher'
                    f'{TINY_VIT}', 'ViT+AdamW', 'MAE'),
    'G2SD': (f'{BENCH}/g2sd_vit-nano-p8-tiny_mae-teacher{TINY_VIT}',
             'ViT+AdamW', 'MAE'),
    'FLIP': (f'{BENCH}/flip_vit-nano-p8-tiny{TINY_VIT}', 'ViT+AdamW', None),
}
TEACHER_KEY = 'teacher_checkpoint'  # top-level config variable
FEAT_REDUCE = {'ResNet+SGD': 'avgpool', 'ViT+AdamW': 'cls'}


def rebase(node, old, new):
    """Replace the prefix ``old`` of every string in a (nested) config."""
    items = node.items() if hasattr(node, 'items') else enumerate(node)
    for key, val in list(items):
        if isinstance(val, str) and val.startswith(old):
            node[key] = new + val[len(old):]
        elif hasattr(val, 'items') or isinstance(val, list):
            rebase(val, old, new)


def load_cfg(config, data_root, work_dir, seed, teacher=None, root='.'):
    """The config with its data under ``data_root``, the seed, the work dir
    and (for distillation methods) the teacher checkpoint."""
    from projects.run_config import load_config
    cfg = load_config(str(Path(root) / config), work_dir=str(work_dir))
    object.__setattr__(cfg, '_format_python_code', False)
    old = cfg.get('data_root')
    if not old:
        raise ValueError(f'{config} has no top-level data_root to rebase')
    rebase(cfg._cfg_dict, old, str(data_root).rstrip('/') + '/')
    if teacher is not None:
        old_ckpt = cfg.get(TEACHER_KEY)
        if not old_ckpt:
            raise ValueError(f'{config} has no `{TEACHER_KEY}` to set')
        rebase(cfg._cfg_dict, old_ckpt, str(teacher))
    cfg.randomness = dict(seed=seed)
    # data in the main process: no worker processes left behind per run
    cfg.train_dataloader.update(num_workers=0, persistent_workers=False)
    # evaluated by `evaluate` after training, not by the runner's kNN loop
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.experiment_name = f'{Path(config).stem}_s{seed}_{uuid.uuid4().hex}'
    cfg.log_level = 'WARNING'
    if cfg.get('visualizer') is not None:
        cfg.visualizer.name = f'visualizer_{uuid.uuid4().hex}'
    cfg.default_hooks.pop('visualization', None)
    return cfg


def _loader(cfg, loader):
    from mmengine.runner import Runner
    loader = dict(loader, num_workers=0, persistent_workers=False)
    return Runner.build_dataloader(loader, seed=cfg.randomness['seed'])


def evaluate(model, cfg, feat_reduce='auto', knn_k=20, knn_t=0.07):
    """kNN and linear-probe top-1 (percent) of ``model``'s frozen backbone
    on the config's bank (train split) and queries (val split)."""
    from .features import extract_features
    from .knn import knn_accuracy
    from .linear_probe import linear_probe
    bank_loader = _loader(cfg, cfg.test_cfg['bank_dataloader'])
    query_loader = _loader(cfg, cfg.test_dataloader)
    bank, bank_y = extract_features(model, bank_loader, feat_reduce)
    query, query_y = extract_features(model, query_loader, feat_reduce)
    if not (torch.isfinite(bank).all() and torch.isfinite(query).all()):
        raise FloatingPointError('non-finite backbone features')
    num_classes = int(max(bank_y.max(), query_y.max())) + 1
    knn = knn_accuracy(query, query_y, bank, bank_y, num_classes, k=knn_k,
                       temperature=knn_t, topk=(1, ))
    lin = linear_probe(bank, bank_y, query, query_y, num_classes)
    return dict(knn_top1=knn['top1'], linear_top1=lin['top1'])


def random_init_model(cfg):
    """The config's model as ``Runner.train`` would start it (seeded)."""
    from mmengine.runner import set_random_seed
    from mmpretrain.registry import MODELS
    set_random_seed(cfg.randomness['seed'])
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model


def pretrain(cfg):
    """Train with the config's runner; returns (model, checkpoint path)."""
    from projects.run_config import build_runner
    runner = build_runner(cfg)
    runner.train()
    ckpts = sorted(Path(cfg.work_dir).glob('iter_*.pth'),
                   key=lambda p: int(p.stem.split('_')[1]))
    if not ckpts:
        raise RuntimeError(f'no checkpoint written to {cfg.work_dir}')
    model = runner.model
    loss = runner.message_hub.get_scalar('train/loss').current()
    return model, str(ckpts[-1]), float(loss)


def mean_std(values):
    if not values:
        return float('nan'), float('nan')
    if len(values) == 1:
        return values[0], 0.
    return statistics.mean(values), statistics.stdev(values)


def summarise(results, methods, seeds):
    """Per method: mean / sample std over seeds of every metric of the
    trained and random-init backbones, and whether the trained one beats
    random init by more than the seed spread
    (``mean_trained - mean_random > std_trained + std_random``)."""
    rows = []
    for name in methods:
        row = dict(method=name, group=METHODS[name][1])
        runs = [results.get(f'{name}/{s}') for s in seeds]
        runs = [r for r in runs if r and 'trained' in r]
        row['seeds'] = len(runs)
        errors = [results[f'{name}/{s}'].get('error') for s in seeds
                  if f'{name}/{s}' in results]
        row['error'] = next((e for e in errors if e), None)
        for metric in ('knn_top1', 'linear_top1', 'transfer'):
            for state in ('random', 'trained'):
                vals = [r[state][metric] for r in runs
                        if r.get(state, {}).get(metric) is not None]
                row[f'{metric}/{state}'] = mean_std(vals)
                row[f'{metric}/{state}/n'] = len(vals)
            (mt, st), (mr, sr) = (row[f'{metric}/trained'],
                                  row[f'{metric}/random'])
            delta = mt - mr
            row[f'{metric}/delta'] = delta
            row[f'{metric}/beats'] = (not math.isnan(delta)) and \
                delta > st + sr
        rows.append(row)
    return rows


def _fmt(ms, digits=1):
    m, s = ms
    if math.isnan(m):
        return '-'
    return f'{m:.{digits}f} ± {s:.{digits}f}'


def markdown_table(rows, transfer_name=None):
    """The results table (markdown)."""
    head = ['method', 'group', 'seeds', 'kNN top-1 random',
            'kNN top-1 trained', 'Δ kNN', 'linear top-1 random',
            'linear top-1 trained', 'Δ linear']
    if transfer_name:
        head += [f'{transfer_name} random', f'{transfer_name} trained',
                 f'Δ {transfer_name}']
    lines = ['| ' + ' | '.join(head) + ' |',
             '|' + '---|' * len(head)]
    for r in rows:
        if r['error'] and not r['seeds']:
            lines.append(f'| {r["method"]} | {r["group"]} | 0 | failed: '
                         f'{r["error"][:120]} |' + ' |' * (len(head) - 4))
            continue
        cells = [r['method'], r['group'], str(r['seeds'])]
        metrics = ['knn_top1', 'linear_top1'] + \
            (['transfer'] if transfer_name else [])
        for metric in metrics:
            delta = r[f'{metric}/delta']
            mark = '' if math.isnan(delta) else \
                (' ✓' if r[f'{metric}/beats'] else ' ✗')
            cells += [_fmt(r[f'{metric}/random']),
                      _fmt(r[f'{metric}/trained']),
                      '-' if math.isnan(delta) else f'{delta:+.1f}{mark}']
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)
