"""Run a zoo config for a few training iterations in-process on synthetic data.

Used by the per-project tests ("one training step of each tiny config"):
the config is loaded exactly as ``tools/train.py`` loads it, pointed at the
session's synthetic dataset, shortened, and trained; the logged losses are
returned so a test can assert they are finite (or decrease).
"""
import json
import uuid
from pathlib import Path

from projects.analysis.samples import set_data_root
from projects.run_config import build_runner, load_config

ROOT = Path(__file__).resolve().parents[1]


def train_steps(config, data_root, work_dir, iters=1, batch_size=2,
                cfg_options=None):
    """Train ``config`` for ``iters`` iterations; return the logged rows.

    ``data_root`` replaces the config's synthetic data root (datasets and
    the COCO evaluator's annotation file). Validation is switched off, the
    dataloaders run in the main process, and the losses are logged every
    iteration.
    """
    cfg = load_config(str(ROOT / config) if not Path(config).is_absolute()
                      else str(config), cfg_options, work_dir=str(work_dir))
    # the runner formats the config text with yapf up to three times
    # (log, dump, visualizer); seconds per run that a test does not need
    object.__setattr__(cfg, '_format_python_code', False)
    set_data_root(cfg, data_root)
    loader = cfg.train_dataloader
    loader.update(batch_size=batch_size, num_workers=0,
                  persistent_workers=False)
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=iters,
                         val_interval=iters + 1)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.test_cfg = cfg.test_dataloader = cfg.test_evaluator = None
    cfg.param_scheduler = []
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=-1,
                                        save_last=False)
    cfg.default_hooks.pop('visualization', None)
    cfg.log_level = 'WARNING'
    # Visualizers are process-wide singletons looked up by name: a fixed
    # name (mmdet's 'visualizer') would reuse the first run's save_dir.
    if cfg.get('visualizer') is not None:
        cfg.visualizer.name = f'visualizer_{uuid.uuid4().hex}'
    runner = build_runner(cfg)
    runner.train()
    (path,) = Path(work_dir).glob('*/vis_data/scalars.json')
    return [json.loads(line) for line in path.read_text().splitlines()]
