"""Check the data roots, annotation files, image folders and records of the
datasets a config reads, before anything is built."""
import inspect
import os.path as osp

from .classification import classification_problems
from .coco import check_coco_file, load_json
from .errors import ConfigError, raise_problems
from .nuscenes_infos import infos_problems
from .seg_masks import segmentation_problems

GENERATE_HINT = ('synthetic datasets are made by: python tools/'
                 'dataset_converters/make_synthetic.py {coco,ade20k,imagenet,'
                 'nuscenes} --out <data_root>')


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
    """Check ``data_root``, ``ann_file`` and ``data_prefix`` of one dataset,
    then the records of its annotations and files (:func:`check_records`)."""
    root = ds.get('data_root') or ''
    if _local(root) and not osp.isdir(root):
        raise _missing('data_root', root, f'{key}.data_root', source)
    ann = ds.get('ann_file')
    full_ann = None
    if _local(ann) and (not root or _local(root)):
        full_ann = ann if osp.isabs(ann) or not root else osp.join(root, ann)
        if not osp.isfile(full_ann):
            raise _missing('ann_file', full_ann, f'{key}.ann_file', source)
    prefix = ds.get('data_prefix')
    if not isinstance(prefix, dict):
        prefix = {'': prefix}
    folders = {}
    for name, sub in prefix.items():
        if _local(sub) and (not root or _local(root)):
            full = osp.join(root, sub)
            if not osp.isdir(full):
                sub_key = f'{key}.data_prefix' + (f'.{name}' if name else '')
                raise _missing('folder', full, sub_key, source)
            folders[name] = full
    if not root or _local(root):
        check_records(ds, full_ann, folders, source)


def check_records(ds, ann, folders, source=''):
    """Check the records of one local dataset by its kind.

    Args:
        ds (dict): the dataset config.
        ann (str | None): its annotation file (with ``data_root``).
        folders (dict): its existing ``data_prefix`` folders by key ('' for a
            plain string prefix).
        source (str): prefix of messages (the config file).
    """
    if {'img_path', 'seg_map_path'} <= set(folders):
        img_dir, seg_dir = folders['img_path'], folders['seg_map_path']
        problems, note = segmentation_problems(
            img_dir, seg_dir, **_seg_settings(ds), ann_file=ann)
        raise_problems(f'{source}segmentation data {img_dir} + {seg_dir}',
                       problems, note)
    elif ann and ann.endswith('.json'):
        doc = load_json(ann)
        if isinstance(doc, dict) and 'data_list' in doc:
            raise_problems(f'{source}infos file {ann}', infos_problems(
                doc, ds.get('cameras'), ds.get('data_root') or ''))
        else:
            check_coco_file(ann, folders.get('img'), doc)
    elif _is_classification(ds.get('type')):
        img_dir = folders.get('img_path', folders.get(''))
        if img_dir is None:
            img_dir = ds.get('data_root') or '.'
        problems, note = classification_problems(
            img_dir, ann, _num_classes(ds, 'mmpretrain'),
            ds.get('with_label', True))
        raise_problems(f'{source}classification data {ann or img_dir}',
                       problems, note)


def _dataset_class(type_name, scope):
    """The dataset class ``type_name`` in ``scope`` (None if unknown)."""
    import importlib
    if not isinstance(type_name, str):
        return None
    try:
        registry = importlib.import_module(f'{scope}.registry').DATASETS
        return registry.get(type_name)
    except (ImportError, AttributeError, KeyError, RuntimeError):
        return None


def _is_classification(type_name):
    try:
        from mmpretrain.datasets import CustomDataset
    except ImportError:
        return False
    cls = _dataset_class(type_name, 'mmpretrain')
    return inspect.isclass(cls) and issubclass(cls, CustomDataset)


def _default(cls, name, fallback):
    params = inspect.signature(cls).parameters if cls else {}
    default = params[name].default if name in params else fallback
    return fallback if default is inspect.Parameter.empty else default


def _num_classes(ds, scope):
    """Classes of the config's ``metainfo`` or of its dataset class."""
    meta = ds.get('metainfo') or {}
    classes = meta.get('classes') if isinstance(meta, dict) else None
    if classes is None:
        cls = _dataset_class(ds.get('type'), scope)
        classes = (getattr(cls, 'METAINFO', None) or {}).get('classes')
    return len(classes) if classes else None


def _seg_settings(ds):
    """Suffixes, class count, ``reduce_zero_label`` (the pipeline's
    ``LoadAnnotations`` overrides the dataset's) and ``ignore_index``."""
    cls = _dataset_class(ds.get('type'), 'mmseg')
    reduce = ds.get('reduce_zero_label',
                    _default(cls, 'reduce_zero_label', False))
    for step in ds.get('pipeline') or []:
        if (isinstance(step, dict) and step.get('type') == 'LoadAnnotations'
                and step.get('reduce_zero_label') is not None):
            reduce = step['reduce_zero_label']
    return dict(
        img_suffix=ds.get('img_suffix', _default(cls, 'img_suffix', '.jpg')),
        seg_suffix=ds.get('seg_map_suffix',
                          _default(cls, 'seg_map_suffix', '.png')),
        num_classes=_num_classes(ds, 'mmseg'),
        reduce_zero_label=bool(reduce),
        ignore_index=ds.get('ignore_index',
                            _default(cls, 'ignore_index', 255)))


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
                check_annotation_json(ann, metric.get('data_root'))


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


def check_annotation_json(path, data_root=None):
    """Check a metric's JSON ``ann_file``: COCO records or nuScenes infos
    (with their camera files under ``data_root``, if given)."""
    doc = load_json(path)
    if isinstance(doc, dict) and 'data_list' in doc:
        raise_problems(f'infos file {path}',
                       infos_problems(doc, data_root=data_root))
    else:
        check_coco_file(path, doc=doc)
