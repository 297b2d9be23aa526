"""What the GPU check runs for each zoo config.

- a model config: its model (training step and inference);
- a loss-search config (``loss_search``): the proxy model the search trains,
  its surrogate loss at the policy's initial mean (the first sample of
  round 0);
- a transfer-benchmark suite (``tasks``): every task's config with the
  suite's settings, one row each, named ``<file>:<task>``;
- an evaluation-only config (no ``train_dataloader``, e.g. kNN): inference
  (its test loop's feature extraction) only.
"""
import os.path as osp
import re
from dataclasses import dataclass, field
from pathlib import Path

from .samples import load_analysis_config


@dataclass
class Target:
    """One row of the check: ``name`` (file name, ``:task`` for a suite
    task), the config ``path`` and its ``cfg_options``."""
    name: str
    path: str
    cfg_options: dict = field(default_factory=dict)
    what: str = 'model'


def zoo_configs(config_dir):
    """Every config under ``config_dir`` that is not a base (no ``_base_``
    folder in its path), sorted."""
    root = Path(config_dir)
    if not root.is_dir():
        raise FileNotFoundError(f'config folder {root} does not exist')
    return sorted(str(p) for p in root.rglob('*.py')
                  if '_base_' not in p.relative_to(root).parts)


def expand(path):
    """The targets of one config file: one, or one per task of a transfer
    suite (a file with a top-level ``tasks`` list; loading it costs little,
    unlike a model config with upstream bases)."""
    name = osp.basename(path)
    if not re.search(r'^tasks\s*=', Path(path).read_text(), re.MULTILINE):
        return [Target(name, str(path))]
    from projects.transfer_benchmark.protocol import load_protocol
    from projects.transfer_benchmark.runner import TRAIN_KEYS
    protocol = load_protocol(path)
    targets = []
    for task in protocol.tasks:
        settings = protocol.task_settings(task)
        if task.mode != 'train':  # the suite only tests it, as here
            drop = TRAIN_KEYS + ('val_dataloader', 'val_cfg', 'val_evaluator')
            settings = {k: v for k, v in settings.items()
                        if str(k).split('.')[0] not in drop}
            settings['train_dataloader'] = None
        targets.append(Target(f'{name}:{task.name}', str(task.config),
                              settings, f'suite task {task.name}'))
    return targets


def load_target(target, work_dir):
    """``(cfg, what)``: the config to measure for ``target`` and what is
    run. A search proxy gets its parameter files under ``work_dir``."""
    cfg = load_analysis_config(target.path, target.cfg_options or None)
    what = [] if target.what == 'model' else [target.what]
    search = cfg.get('loss_search')
    if search is not None:
        from projects.loss_search.spaces import SPACES
        spec = dict(search['space'])
        space = SPACES[spec.pop('type')](**spec)
        theta = (search.get('policy') or {}).get('init_mean') or \
            space.init_mean
        cfg = space.inject(cfg, theta, osp.join(str(work_dir), 'params'),
                           source=f'gpu check of {target.name}')
        cfg.pop('loss_search')
        what.append("search proxy, loss at the policy's initial mean")
    if not cfg.get('train_dataloader'):
        what.append('evaluation only')
    return cfg, ', '.join(what) or 'model'
