"""Check the data roots, annotation files and image folders a config names."""
import os.path as osp

from .annotations import (check_coco_file, raise_problems,
                          segmentation_problems)
from .errors import ConfigError

GENERATE_HINT = ('synthetic datasets are made by: python tools/'
                 'dataset_converters/make_synthetic.py {coco,ade20k,imagenet} '
                 '--out <data_root>')


def _local(path):
    return isinstance(path, str) and path != '' and '://' not in path


def _missing(kind, path, key, source):
    hint = f' ({GENERATE_HINT})' if 'synthetic' in str(path) else ''
    return ConfigError(f"{source}{kind} '{path}' of '{key}' does not exist "
                       f"(working directory {osp.abspath('.')}){hint}")


def iter_datasets(node, path):
    """``(key path, dataset cfg)`` for a dataset cfg and its wrapped datasets."""
    if not isinstance(node, dict):
        return
    yield path, node
    if isinstance(node.get('dataset'), dict):
        yield from iter_datasets(node['dataset'], f'{path}.dataset')
    for i, sub in enumerate(node.get('datasets') or []):
        yield from iter_datasets(sub, f'{path}.datasets[{i}]')


def check_dataset(ds, key, source=''):
    """Check ``data_root``, ``ann_file`` and ``data_prefix`` of one dataset."""
    root = ds.get('data_root') or ''
    if _local(root) and not osp.isdir(root):
        raise _missing('data_root', root, f'{key}.data_root', source)
    ann = ds.get('ann_file')
    if _local(ann) and (not root or _local(root)):
        full = ann if osp.isabs(ann) or not root else osp.join(root, ann)
        if not osp.isfile(full):
            raise _missing('ann_file', full, f'{key}.ann_file', source)
        if full.endswith('.json'):
            check_coco_file(full)
    prefix = ds.get('data_prefix')
    if not isinstance(prefix, dict):
        prefix = {'': prefix}
    for name, sub in prefix.items():
        if _local(sub) and (not root or _local(root)):
            full = osp.join(root, sub)
            if not osp.isdir(full):
                sub_key = f'{key}.data_prefix' + (f'.{name}' if name else '')
                raise _missing('folder', full, sub_key, source)
    if {'img_path', 'seg_map_path'} <= set(prefix) and not ann and all(
            _local(p) for p in (root, prefix['img_path'])):
        img_dir = osp.join(root, prefix['img_path'])
        raise_problems(f"{img_dir} + {prefix['seg_map_path']}",
                       segmentation_problems(
                           img_dir, osp.join(root, prefix['seg_map_path']),
                           *_seg_suffixes(ds)))


def _seg_suffixes(ds):
    """``img_suffix``/``seg_map_suffix`` of the config, else the defaults of
    its mmseg dataset class."""
    import inspect

    from mmseg.registry import DATASETS
    cls = DATASETS.get(ds.get('type')) if isinstance(ds.get('type'),
                                                      str) else None
    params = inspect.signature(cls).parameters if cls else {}
    return [ds.get(k, params[k].default if k in params else d) for k, d in
            (('img_suffix', '.jpg'), ('seg_map_suffix', '.png'))]


def check_evaluator(evaluator, key, source=''):
    """Check the ``ann_file`` of each metric (e.g. CocoMetric)."""
    metrics = evaluator if isinstance(evaluator, list) else [evaluator]
    for i, metric in enumerate(metrics):
        ann = metric.get('ann_file') if isinstance(metric, dict) else None
        if _local(ann):
            if not osp.isfile(ann):
                sub = f'{key}[{i}]' if isinstance(evaluator, list) else key
                raise _missing('ann_file', ann, f'{sub}.ann_file', source)
            if ann.endswith('.json'):
                check_coco_file(ann)


def check_data(cfg, splits, source=''):
    """Check the data of the ``{split}_dataloader``/``_evaluator`` entries."""
    prefix = f'{source}: ' if source else ''
    for split in splits:
        loader = cfg.get(f'{split}_dataloader')
        if not loader:
            continue
        for key, ds in iter_datasets(loader.get('dataset'),
                                     f'{split}_dataloader.dataset'):
            check_dataset(ds, key, prefix)
        if cfg.get(f'{split}_evaluator'):
            check_evaluator(cfg[f'{split}_evaluator'], f'{split}_evaluator',
                            prefix)
