"""A held-out split carved deterministically from the training set.

The reward of a proxy run must not come from the split that is reported
later (Auto Seg-Loss rewarded on VOC val). :func:`apply_held_out_split`
rewrites a config so that the proxy trains on the training set minus a
held-out part and validates on that part:

* COCO-style detection datasets (``CocoDataset`` and subclasses): two
  annotation files ``search_train.json`` / ``search_val.json`` (the
  official PAP search used such a cocosplit of train2017); the COCO
  evaluator reads ``search_val.json``.
* mmseg datasets (``BaseSegDataset``): two image lists
  ``search_train.txt`` / ``search_val.txt`` (mmseg's ``ann_file``). A
  ``ConcatDataset`` (VOC aug) is held out from its first dataset and the
  held-out names are removed from every dataset.

An item is held out when its rank under a seeded hash of its id/name is
among the first ``num`` (``round(fraction * n)``, at least 1): the same
items on every machine, independent of file order.
"""
import copy
import hashlib
import json
import os
import os.path as osp

from mmengine.config import ConfigDict


def _write(path, text):
    """Atomic write: ranks sharing a work_dir write the same split files."""
    tmp = f'{path}.{os.getpid()}.tmp'
    with open(tmp, 'w', encoding='utf-8') as f:
        f.write(text)
    os.replace(tmp, path)


def _key(seed, name):
    return hashlib.sha256(f'{seed}:{name}'.encode()).hexdigest()


def choose_held_out(names, fraction=None, num=None, seed=0):
    """The held-out subset of ``names`` (a set)."""
    names = sorted(set(map(str, names)))
    if num is None:
        if fraction is None or not 0 < fraction < 1:
            raise ValueError(f'held-out fraction must lie in (0, 1), got '
                             f'{fraction}')
        num = max(1, round(fraction * len(names)))
    if not 0 < num < len(names):
        raise ValueError(f'cannot hold out {num} of {len(names)} training '
                         f'items')
    return set(sorted(names, key=lambda n: _key(seed, n))[:num])


def _join(root, path):
    if not path or osp.isabs(path) or not root:
        return path
    return osp.join(root, path)


def _dataset_kind(ds_cfg):
    from mmdet.datasets import CocoDataset
    from mmdet.registry import DATASETS as DET_DATASETS
    from mmseg.datasets import BaseSegDataset
    from mmseg.registry import DATASETS as SEG_DATASETS
    t = ds_cfg.get('type')
    for registry, base, kind in ((DET_DATASETS, CocoDataset, 'coco'),
                                 (SEG_DATASETS, BaseSegDataset, 'seg')):
        cls = registry.get(t) if isinstance(t, str) else t
        if isinstance(cls, type) and issubclass(cls, base):
            return kind
    return None


def _unwrap(ds_cfg):
    """The leaf datasets of a (Concat/Repeat/ClassBalanced) dataset cfg."""
    if 'datasets' in ds_cfg:
        return [leaf for d in ds_cfg['datasets'] for leaf in _unwrap(d)]
    if 'dataset' in ds_cfg:
        return _unwrap(ds_cfg['dataset'])
    return [ds_cfg]


def _seg_names(ds):
    root = ds.get('data_root', '')
    ann = _join(root, ds.get('ann_file', ''))
    if ann:
        with open(ann, encoding='utf-8') as f:
            return [line.strip() for line in f if line.strip()]
    prefix = ds.get('data_prefix', {}).get('img_path', '')
    img_dir = _join(root, prefix)
    suffix = ds.get('img_suffix', '.jpg')
    return sorted(f[:-len(suffix)] for f in os.listdir(img_dir)
                  if f.endswith(suffix))


def apply_held_out_split(cfg, out_dir, fraction=0.1, num=None, seed=0):
    """Return a copy of ``cfg`` training on train minus a held-out part and
    validating on that part; the split files go to ``out_dir``.

    Returns:
        tuple: (new cfg, dict with the split's sizes and files)
    """
    cfg = copy.deepcopy(cfg)
    os.makedirs(out_dir, exist_ok=True)
    train_ds = cfg.train_dataloader.dataset
    leaves = _unwrap(train_ds)
    kinds = {_dataset_kind(d) for d in leaves}
    if len(kinds) != 1 or None in kinds:
        raise ValueError(
            f'held-out split: the training datasets '
            f'{[d.get("type") for d in leaves]} are not all COCO-style or '
            f'mmseg datasets; give the proxy config its own held-out '
            f"validation set and set reward.split='val'")
    kind = kinds.pop()
    first = leaves[0]
    val_ds = copy.deepcopy(cfg.val_dataloader.dataset)
    for key in ('data_root', 'data_prefix'):
        if key in first:
            val_ds[key] = copy.deepcopy(first[key])
    info = dict(kind=kind, seed=seed)
    if kind == 'coco':
        with open(_join(first.get('data_root', ''), first['ann_file']),
                  encoding='utf-8') as f:
            coco = json.load(f)
        held = choose_held_out([im['id'] for im in coco['images']],
                               fraction, num, seed)
        files = {}
        for part, keep in (('train', lambda i: str(i) not in held),
                           ('val', lambda i: str(i) in held)):
            images = [im for im in coco['images'] if keep(im['id'])]
            ids = {im['id'] for im in images}
            doc = dict(coco, images=images, annotations=[
                a for a in coco['annotations'] if a['image_id'] in ids])
            path = osp.abspath(osp.join(out_dir, f'search_{part}.json'))
            _write(path, json.dumps(doc))
            files[part] = path
            info[f'num_{part}'] = len(images)
        if len(leaves) != 1:
            raise ValueError('held-out split: wrapped COCO training sets of '
                             'several datasets are not supported')
        first['ann_file'] = files['train']
        val_ds['ann_file'] = files['val']
        evaluators = cfg.val_evaluator if isinstance(
            cfg.val_evaluator, (list, tuple)) else [cfg.val_evaluator]
        for ev in evaluators:
            if 'ann_file' in ev:
                ev['ann_file'] = files['val']
    else:
        held = choose_held_out(_seg_names(first), fraction, num, seed)
        n_train = 0
        for k, leaf in enumerate(leaves):
            names = [n for n in _seg_names(leaf) if n not in held]
            path = osp.abspath(osp.join(out_dir, f'search_train_{k}.txt'))
            _write(path, ''.join(n + '\n' for n in names))
            leaf['ann_file'] = path
            n_train += len(names)
        path = osp.abspath(osp.join(out_dir, 'search_val.txt'))
        _write(path, ''.join(n + '\n' for n in sorted(held)))
        val_ds['ann_file'] = path
        info.update(num_train=n_train, num_val=len(held))
    cfg.val_dataloader.dataset = ConfigDict(val_ds)
    info['held_out'] = sorted(held)
    return cfg, info
