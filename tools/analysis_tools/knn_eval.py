"""Weighted kNN evaluation of a pre-trained backbone.

    python tools/analysis_tools/knn_eval.py CONFIG CHECKPOINT \
        [--k 20] [--temperature 0.07] [--feat-reduce auto] \
        [--cfg-options ...] [--work-dir DIR] [--out result.json] \
        [--launcher pytorch]

CONFIG is any mmpretrain-style config whose model has ``extract_feat`` (an
SSL pre-training config or a classifier); CHECKPOINT its checkpoint, or
``none`` for the randomly initialised model (the baseline: the config's
``init_weights`` under its seed, as training starts). The labelled
train split with the test pipeline is the feature bank, the val split the
queries (mmselfsup / DINO protocol: L2-normalised features, cosine
similarity, ``k=20`` neighbours weighted by ``exp(sim / 0.07)``).

Data: a config with ``test_cfg=dict(type='KNNTestLoop', bank_dataloader=
...)`` (the configs/ssl_benchmark ones) is used as is. Otherwise the bank is
``train_dataloader`` with the pipeline of ``test_dataloader`` /
``val_dataloader`` (or the config's ``test_pipeline``), and the queries are
``test_dataloader``, ``val_dataloader`` or the train dataset with
``split='val'``. Multi-GPU: ``tools/dist_test.sh``-style launch with
``--launcher pytorch``; each rank extracts its shard.
"""
import argparse
import copy
import json
import os.path as osp
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from mmengine.config import DictAction  # noqa: E402

KNN_LOOPS = ('KNNTestLoop', 'KNNValLoop')
DEFAULT_PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='short'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint', help="checkpoint file, or 'none'")
    parser.add_argument('--k', type=int, default=None,
                        help='neighbours (default: config, else 20)')
    parser.add_argument('--temperature', type=float, default=None,
                        help='vote temperature (default: config, else 0.07)')
    parser.add_argument('--feat-reduce', default=None,
                        choices=['auto', 'avgpool', 'cls', 'mean', 'none'])
    parser.add_argument('--batch-size', type=int, default=None)
    parser.add_argument('--work-dir')
    parser.add_argument('--out', help='write the metrics as JSON')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    parser.add_argument('--launcher', default='none',
                        choices=['none', 'pytorch', 'slurm', 'mpi'])
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    return parser.parse_args(argv)


def _loader(base, pipeline, batch_size):
    loader = copy.deepcopy(base)
    loader['dataset']['pipeline'] = copy.deepcopy(pipeline)
    loader['sampler'] = dict(type='DefaultSampler', shuffle=False)
    loader['collate_fn'] = dict(type='default_collate')
    loader['drop_last'] = False
    loader.pop('batch_sampler', None)
    if batch_size:
        loader['batch_size'] = batch_size
    return loader


def knn_test_settings(cfg, k=None, temperature=None, feat_reduce=None,
                      batch_size=None):
    """Turn ``cfg`` into a kNN test run (``test_cfg``, ``test_dataloader``,
    ``test_evaluator``), in place."""
    loop = cfg.get('test_cfg') or {}
    if loop.get('type') not in KNN_LOOPS:
        val_loop = cfg.get('val_cfg') or {}
        if val_loop.get('type') in KNN_LOOPS:
            cfg.test_cfg = dict(val_loop, type='KNNTestLoop')
            cfg.test_dataloader = cfg.val_dataloader
            cfg.test_evaluator = cfg.val_evaluator
        else:
            train = cfg.get('train_dataloader')
            if not train:
                raise ValueError('knn_eval: the config has no '
                                 'train_dataloader for the feature bank')
            query = cfg.get('test_dataloader') or cfg.get('val_dataloader')
            if query:
                pipeline = query['dataset'].get('pipeline')
            else:
                pipeline = cfg.get('test_pipeline') or DEFAULT_PIPELINE
                if train['dataset'].get('split') != 'train':
                    raise ValueError(
                        'knn_eval: no val/test dataloader and the train '
                        "dataset has no split='train' to swap for 'val'; "
                        'add a val_dataloader (e.g. --cfg-options)')
                query = copy.deepcopy(train)
                query['dataset']['split'] = 'val'
            bank = _loader(train, pipeline, batch_size)
            cfg.test_dataloader = _loader(query, pipeline, batch_size)
            cfg.test_cfg = dict(type='KNNTestLoop', bank_dataloader=bank)
            cfg.test_evaluator = dict(type='KNNAccuracy')
    else:
        for key in ('test_dataloader', ):
            if batch_size:
                cfg[key]['batch_size'] = batch_size
    if batch_size:
        cfg.test_cfg.bank_dataloader['batch_size'] = batch_size
    ev = cfg.test_evaluator
    if isinstance(ev, (list, tuple)):
        ev = [e for e in ev if e.get('type') == 'KNNAccuracy'][0]
    if k is not None:
        ev['k'] = k
    if temperature is not None:
        ev['temperature'] = temperature
    if feat_reduce is not None:
        cfg.test_cfg['feat_reduce'] = feat_reduce
    for key in ('val_cfg', 'val_dataloader', 'val_evaluator'):
        cfg[key] = None
    return cfg


def main(argv=None):
    args = parse_args(argv)
    import projects  # noqa: F401
    import projects.ssl_eval  # noqa: F401  (metric and loops)
    from mmengine.model import is_model_wrapper

    from projects.run_config import build_runner, load_config
    work_dir = args.work_dir or osp.join(
        'work_dirs', 'knn_eval',
        osp.splitext(osp.basename(args.config))[0])
    cfg = load_config(args.config, args.cfg_options, work_dir=work_dir,
                      launcher=args.launcher)
    knn_test_settings(cfg, args.k, args.temperature, args.feat_reduce,
                      args.batch_size)
    if args.checkpoint.lower() == 'none':
        cfg.load_from = None
    else:
        if not osp.isfile(args.checkpoint):
            raise SystemExit(f'error: checkpoint {args.checkpoint} does not '
                             'exist')
        cfg.load_from = args.checkpoint
    cfg.resume = False
    runner = build_runner(cfg)
    if cfg.load_from is None:
        # the model as training would start it (Runner.test does not
        # initialise: e.g. MAEViT's sin-cos position embedding, init_cfg)
        model = runner.model.module if is_model_wrapper(runner.model) \
            else runner.model
        model.init_weights()
    metrics = runner.test()
    ev = cfg.test_evaluator
    print(f'kNN (k={ev.get("k", 20)}, T={ev.get("temperature", 0.07)}) '
          f'{args.checkpoint}: ' + ', '.join(
              f'{k} {v:.2f}' for k, v in metrics.items()))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(dict(config=args.config, checkpoint=args.checkpoint,
                           metrics=metrics), f, indent=2)
    return metrics


if __name__ == '__main__':
    main()
