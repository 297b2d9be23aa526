"""Merge a sharded FSDP checkpoint into one plain checkpoint.

    python tools/model_converters/consolidate_fsdp.py SRC DST [--config CFG]

SRC is what ``FSDPStrategy`` with ``state_dict_cfg='sharded'`` saves: a
folder ``iter_N.pth/`` (or ``epoch_N.pth/``) with one ``rank{i}.pth`` per
process, each holding its shards as plain tensors with their offsets (see
``projects.run_config.fsdp``). A full checkpoint file (``state_dict_cfg=
'full'``) is accepted too. DST is an mmengine checkpoint ``{'state_dict':
..., 'meta': ...}`` with the parameter names of the unsharded model, the
format of our converters' outputs: it loads into a plain model
(``load_from``, ``init_cfg=dict(type='Pretrained', ...)``, ``tools/test.py``)
and into another FSDP run. The optimizer state is not kept.

Every file is read with ``torch.load(weights_only=True)``; DST is written
atomically (temporary file + rename), so a failure leaves no partial file.
With ``--config`` the result is checked against the config's model (every
key present with its shape, nothing extra).
"""
import argparse
import os.path as osp
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from projects.run_config.fsdp import (consolidate_shards,  # noqa: E402
                                      is_shard_record)
from projects.stack_compat import (UnsafeCheckpointError,  # noqa: E402
                                   load_checkpoint_file)
from projects.training_guards import atomic_torch_save  # noqa: E402

RANK_FILE = re.compile(r'^rank(\d+)\.pth$')


def _load(path):
    ckpt = load_checkpoint_file(path, map_location='cpu')
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get('state_dict'),
                                                    dict):
        raise ValueError(f'{path} is not an mmengine checkpoint (a dict with '
                         'a "state_dict" dict)')
    return ckpt


def rank_files(src):
    """``rank{i}.pth`` of the folder ``src`` in rank order; all of
    ``0..world_size-1`` must be there."""
    found = {}
    for name in sorted(Path(src).iterdir()):
        match = RANK_FILE.match(name.name)
        if match:
            found[int(match.group(1))] = str(name)
    if not found:
        raise ValueError(f'{src} holds no rank{{i}}.pth files: not a sharded '
                         'FSDP checkpoint')
    missing = [f'rank{r}.pth' for r in range(max(found) + 1)
               if r not in found]
    if missing:
        raise ValueError(f'{src} misses {", ".join(missing)}')
    return [found[r] for r in range(len(found))]


def consolidate(src):
    """The plain checkpoint ``{'state_dict', 'meta'}`` of ``src``."""
    if not osp.exists(src):
        raise FileNotFoundError(f'{src} does not exist')
    if osp.isfile(src):
        ckpt = _load(src)
        if any(is_shard_record(v) for v in ckpt['state_dict'].values()):
            raise ValueError(f'{src} is one rank of a sharded checkpoint; '
                             'give the folder that holds all rank files')
        return dict(state_dict=ckpt['state_dict'],
                    meta=dict(ckpt.get('meta') or {}, source=str(src)))
    files = rank_files(src)
    ckpts = [_load(f) for f in files]
    for rank, (ckpt, name) in enumerate(zip(ckpts, files)):
        shard = (ckpt.get('meta') or {}).get('fsdp_shard') or {}
        if shard != dict(rank=rank, world_size=len(files)):
            raise ValueError(
                f'{name}: meta.fsdp_shard is {shard or "missing"}, expected '
                f'rank {rank} of world size {len(files)} (rank files of '
                'another run or size mixed in?)')
    state = consolidate_shards([c['state_dict'] for c in ckpts], files)
    meta = dict(ckpts[0].get('meta') or {})
    meta.pop('fsdp_shard')
    meta.update(source=str(src), consolidated_from=len(files))
    return dict(state_dict=state, meta=meta)


def check_against_config(state, config):
    """Raise ``ValueError`` unless ``state`` has exactly the keys and shapes
    of the model of ``config`` (built on the meta device)."""
    import torch
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope
    cfg = Config.fromfile(config)
    init_default_scope(cfg.get('default_scope', 'mmengine'))
    with torch.device('meta'):
        model = MODELS.build(cfg.model)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    shapes = [f'{k} {list(state[k].shape)} vs {list(s)}'
              for k, s in expected.items()
              if k in state and tuple(state[k].shape) != s]
    if missing or extra or shapes:
        raise ValueError(
            f'the consolidated state dict does not fit the model of {config}:'
            f' {len(missing)} missing (e.g. {missing[:3]}), {len(extra)} '
            f'unexpected (e.g. {extra[:3]}), {len(shapes)} of another shape '
            f'(e.g. {shapes[:3]})')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='sharded checkpoint folder (or a full '
                        'checkpoint file)')
    parser.add_argument('dst', help='output checkpoint file')
    parser.add_argument('--config', help='check the result against the model '
                        'of this config')
    args = parser.parse_args(argv)
    try:
        ckpt = consolidate(args.src)
        if args.config:
            check_against_config(ckpt['state_dict'], args.config)
    except (FileNotFoundError, ValueError, UnsafeCheckpointError) as err:
        sys.exit(f'error: {err}')
    atomic_torch_save(ckpt, args.dst)
    print(f'{len(ckpt["state_dict"])} tensors written to {args.dst}')


if __name__ == '__main__':
    main()
