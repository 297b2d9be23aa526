"""Configs, models and pipeline samples for the analysis tools.

A zoo config is loaded as ``tools/train.py`` loads it; its datasets can be
pointed at another root (``--data-root``) or at a synthetic dataset of the
same format generated on the fly (:func:`synthetic_data_root`), and the
samples it yields after its own pipeline feed the FLOP counter, the benchmark
and the drawing code.
"""
import copy
import os.path as osp

import torch
from mmengine.config import ConfigDict
from mmengine.dataset import pseudo_collate
from mmengine.registry import DATASETS, FUNCTIONS, MODELS, DefaultScope

from projects.run_config import load_config

TASKS = ('det', 'seg', 'cls', 'bev', 'ssl')
# dataset type -> projects.synthetic_data generator of the same format
SYNTHETIC_KINDS = {'CocoDataset': 'coco', 'COCOCaptions': 'coco',
                   'ADE20KDataset': 'ade20k', 'PascalVOCDataset': 'voc',
                   'CityscapesDataset': 'cityscapes', 'ImageNet': 'imagenet',
                   'CustomDataset': 'imagenet',
                   'NuScenesBEVDataset': 'nuscenes'}
# image (H, W) of the small synthetic datasets of the tiny configs
TINY_SIZES = {'nuscenes': (90, 160), 'imagenet': (64, 64)}


def load_analysis_config(path, cfg_options=None):
    """The config at ``path`` (``FileNotFoundError`` naming it if absent)."""
    cfg = load_config(str(path), cfg_options)
    if not isinstance(cfg.get('model'), dict):
        raise KeyError(f'config {path} has no model dict')
    return cfg


def scope_of(cfg):
    return cfg.get('default_scope') or cfg.model.get('_scope_') or 'mmengine'


def _drop_pretrained(node):
    if isinstance(node, dict):
        init = node.get('init_cfg')
        if isinstance(init, dict) and init.get('type') == 'Pretrained':
            node['init_cfg'] = None
        if isinstance(node.get('pretrained'), str):
            node['pretrained'] = None
        for value in node.values():
            _drop_pretrained(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _drop_pretrained(value)


def build_model(cfg, device='cpu'):
    """``MODELS.build(cfg.model)`` in the config's scope, SyncBN reverted,
    on ``device``. Pretrained-weight ``init_cfg`` entries are dropped (the
    analysis tools measure structure or load a checkpoint themselves).

    On CUDA the parameters are created on the GPU (``torch.device`` as the
    default device: a 2 B-parameter model is built and initialised in
    seconds); a model whose construction needs CPU tensors is built on the
    CPU and moved.
    """
    from mmengine.model import revert_sync_batchnorm
    model_cfg = copy.deepcopy(cfg.model)
    if cfg.get('data_preprocessor') is not None:  # as mmengine's Runner
        model_cfg.setdefault('data_preprocessor',
                             copy.deepcopy(cfg.data_preprocessor))
    _drop_pretrained(model_cfg)
    device = torch.device(device)
    with DefaultScope.overwrite_default_scope(scope_of(cfg)):
        model = None
        if device.type == 'cuda':
            try:
                with device:
                    model = MODELS.build(copy.deepcopy(model_cfg))
            except (RuntimeError, TypeError):  # CPU-only construction code
                model = None
        if model is None:
            model = MODELS.build(model_cfg)
    return revert_sync_batchnorm(model).to(device)


def task_of_model(model):
    """'bev', 'det', 'seg', 'cls' or 'ssl' (``ValueError`` otherwise)."""
    from mmdet.models.detectors import BaseDetector
    from mmpretrain.models import BaseClassifier, BaseSelfSupervisor
    from mmseg.models.segmentors import BaseSegmentor
    if hasattr(model, 'pts_bbox_head') and hasattr(model, 'img_backbone'):
        return 'bev'
    for cls, task in ((BaseDetector, 'det'), (BaseSegmentor, 'seg'),
                      (BaseClassifier, 'cls'), (BaseSelfSupervisor, 'ssl')):
        if isinstance(model, cls):
            return task
    raise ValueError(f'{type(model).__name__} is not a detector, segmentor, '
                     'classifier, self-supervised model or BEV detector')


def task_of_sample(sample):
    """The task of a packed sample (``dict(inputs, data_samples)``)."""
    ds = sample['data_samples']
    if isinstance(sample['inputs'], dict) and 'imgs' in sample['inputs']:
        return 'bev'
    if 'gt_sem_seg' in ds or type(ds).__name__ == 'SegDataSample':
        return 'seg'
    if 'gt_instances' in ds or type(ds).__name__ == 'DetDataSample':
        return 'det'
    return 'cls'


def _walk_datasets(node, fn):
    if isinstance(node, (dict, ConfigDict)):
        if 'data_root' in node or 'type' in node and 'pipeline' in node:
            fn(node)
        for value in node.values():
            _walk_datasets(value, fn)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _walk_datasets(value, fn)


def _rebase(node, prev, new):
    """Replace the leading ``prev`` of every path string under ``node``
    (pipeline files such as a caption vocabulary), in place."""
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, val in list(items):
        if isinstance(val, str) and val.startswith(prev + '/'):
            node[key] = new.rstrip('/') + val[len(prev):]
        elif isinstance(val, (dict, list)):
            _rebase(val, prev, new)


def set_data_root(cfg, data_root, prev=None):
    """Point every dataloader's datasets (their pipelines' files and the
    evaluator annotation files that lived under the old root) at
    ``data_root``, in place; with ``prev``, only the datasets whose root is
    ``prev``."""
    data_root = str(data_root)
    old = str(cfg.get('data_root', '')).rstrip('/')

    def move(ds):
        if 'data_root' not in ds:
            return
        before = str(ds['data_root']).rstrip('/')
        if prev is not None and before != prev:
            return
        ds['data_root'] = data_root
        ann = ds.get('ann_file')
        if isinstance(ann, str) and before and ann.startswith(before):
            ds['ann_file'] = data_root + ann[len(before):]
        roots = {before} | ({old} if prev is None else set())
        for root in roots - {''}:  # files under either root
            if isinstance(ds.get('pipeline'), list):
                _rebase(ds['pipeline'], root, data_root)

    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(key) is not None:
            _walk_datasets(cfg[key], move)
    moved = old if prev is None else prev
    for key in ('val_evaluator', 'test_evaluator'):
        for ev in (cfg.get(key) if isinstance(cfg.get(key), list)
                   else [cfg.get(key)]):
            if not isinstance(ev, dict):
                continue
            for k in ('ann_file', 'data_root'):
                val = ev.get(k)
                if isinstance(val, str) and moved and val.startswith(moved):
                    ev[k] = data_root + val[len(moved):]
    if prev is None or prev == old:
        cfg.data_root = data_root
    return cfg


def dataset_roots(cfg):
    """``{data_root: dataset config}`` of the datasets of every dataloader
    (the first dataset of each root; roots without a trailing slash)."""
    roots = {}

    def add(ds):
        if ds.get('data_root'):
            roots.setdefault(str(ds['data_root']).rstrip('/'), ds)

    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(key) is not None:
            _walk_datasets(cfg[key], add)
    return roots


def dataset_cfg(cfg, phase):
    """The dataset config of ``{phase}_dataloader`` (a copy)."""
    loader = cfg.get(f'{phase}_dataloader')
    if not isinstance(loader, dict) or 'dataset' not in loader:
        raise KeyError(f'the config has no {phase}_dataloader.dataset')
    return copy.deepcopy(loader['dataset'])


def dataset_kind(ds):
    """The ``projects.synthetic_data`` generator that writes data in the
    format of the dataset config ``ds`` (``None`` if there is none)."""
    kind = SYNTHETIC_KINDS.get(str(ds.get('type', '')).split('.')[-1])
    if kind == 'coco' and 'laion' in str(ds.get('data_root', '')).lower():
        return 'laion'  # LAION captions in the COCO-captions format
    return kind


def synthetic_kind(cfg, phase='train'):
    """:func:`dataset_kind` of the config's ``phase`` dataset (of the
    first dataset of a ``ConcatDataset``)."""
    ds = dataset_cfg(cfg, phase)
    while 'pipeline' not in ds and ('dataset' in ds or ds.get('datasets')):
        # RepeatDataset & co. wrap one dataset, ConcatDataset several
        ds = ds['dataset'] if 'dataset' in ds else ds['datasets'][0]
    return dataset_kind(ds)


def synthetic_data_root(kind, out, num=None, seed=0, real_size=False):
    """Write a small synthetic dataset of ``kind`` under ``out``; its root.

    Images have the real dataset's size (``REAL_SIZES``: nuScenes cameras
    1600 x 900, Cityscapes 2048 x 1024, ...) when ``real_size``, else the
    small size of the tiny configs. ``num`` images per split (default 2 at
    the real size, else 4; batches cycle through them; nuScenes: one scene
    of 4 key frames per split).
    """
    num = num or (2 if real_size else 4)
    from projects.synthetic_data import GENERATORS, REAL_SIZES
    if kind not in GENERATORS:
        raise ValueError(f'unknown synthetic data kind {kind!r}; expected '
                         f'one of {sorted(GENERATORS)}')
    kwargs = dict(seed=seed)
    if real_size:
        kwargs['size'] = REAL_SIZES[kind]
    elif kind in TINY_SIZES:
        kwargs['size'] = TINY_SIZES[kind]
    if kind == 'nuscenes':
        return GENERATORS[kind](out, 1, 1, **kwargs)
    if kind == 'imagenet':
        kwargs['num_classes'] = 5
    return GENERATORS[kind](out, num, num, **kwargs)


def check_data_root(cfg, phase):
    """``FileNotFoundError`` naming the data root of the ``phase`` dataset
    when it is not a directory."""
    ds = dataset_cfg(cfg, phase)
    roots = []
    _walk_datasets(ds, lambda d: roots.append(d.get('data_root')))
    for root in roots:
        if root and not osp.isdir(str(root)):
            raise FileNotFoundError(
                f'data root {root} of {phase}_dataloader does not exist '
                '(pass --data-root DIR, or generate it with '
                'tools/dataset_converters/make_synthetic.py)')


def build_dataset(cfg, phase='train'):
    """The ``phase`` dataset of ``cfg``, built in the config's scope."""
    check_data_root(cfg, phase)
    with DefaultScope.overwrite_default_scope(scope_of(cfg)):
        return DATASETS.build(dataset_cfg(cfg, phase))


def collate_fn(cfg, phase='train'):
    coll = cfg.get(f'{phase}_dataloader', {}).get('collate_fn')
    if not coll:
        return pseudo_collate
    coll = dict(coll)
    scope = coll.pop('_scope_', None) or scope_of(cfg)  # not an argument
    with DefaultScope.overwrite_default_scope(scope):
        fn = FUNCTIONS.get(coll.pop('type'))
    return (lambda batch: fn(batch, **coll)) if coll else fn


def take_batch(cfg, dataset, size, phase='train'):
    """``size`` samples of ``dataset`` (cycled) collated as the config's
    dataloader does."""
    if len(dataset) == 0:
        raise ValueError(f'the {phase} dataset is empty')
    return collate_fn(cfg, phase)([dataset[i % len(dataset)]
                                   for i in range(size)])


def to_rgb_image(inputs):
    """HWC uint8 RGB of a packed CHW BGR image tensor (OpenMMLab's loaders
    read BGR)."""
    img = inputs.detach().cpu()
    if img.dtype != torch.uint8:
        img = img.clamp(0, 255).to(torch.uint8)
    return img.permute(1, 2, 0).numpy()[..., ::-1].copy()


def quiet_logs(level='WARNING'):
    """Raise the level of mmengine's current logger (weight-init reports,
    dataset info) for command-line tools."""
    import logging

    from mmengine.logging import MMLogger
    MMLogger.get_current_instance().setLevel(getattr(logging, level))
