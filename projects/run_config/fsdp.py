"""Fully sharded training through mmengine's ``FSDPStrategy``.

Importing this module registers, for ``strategy=dict(type='FSDPStrategy')``
with ``runner_type='FlexibleRunner'``:

* the auto-wrap policies ``wrap_module_classes`` (one FSDP unit per block
  class) and torch's ``size_based_auto_wrap_policy`` in ``FUNCTIONS``;
* torch's sharded state-dict configs in mmengine's ``FSDP_CONFIGS``;
* :class:`FSDPStrategy` over mmengine's (same name), which builds the
  optimizer on the unsharded model (param-wise rules such as "no weight
  decay on 1-D parameters" see the real shapes, not the flat shards),
  clips gradients by the norm over all shards (``FSDP.clip_grad_norm_``, not
  the local one) and writes sharded checkpoints as plain tensors, so that
  they load with ``weights_only=True`` and
  ``tools/model_converters/consolidate_fsdp.py`` merges them into a plain
  state dict.
"""
import copy
import importlib
import os.path as osp
from functools import lru_cache

import torch
from mmengine._strategy.distributed import DDPStrategy
from mmengine._strategy.fsdp import FSDP_CONFIGS
from mmengine._strategy.fsdp import FSDPStrategy as _MMEngineFSDPStrategy
from mmengine.dist import barrier, get_rank, get_world_size
from mmengine.optim import AmpOptimWrapper, BaseOptimWrapper
from mmengine.optim import build_optim_wrapper as _build_optim_wrapper
from mmengine.registry import FUNCTIONS, STRATEGIES
from torch.distributed.fsdp import FullStateDictConfig
from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
from torch.distributed.fsdp import (ShardedOptimStateDictConfig,
                                    ShardedStateDictConfig, StateDictType)
from torch.distributed.fsdp.wrap import size_based_auto_wrap_policy

SHARD_MARK = '__fsdp_shard__'

FSDP_CONFIGS.register_module(module=ShardedStateDictConfig, force=True)
FSDP_CONFIGS.register_module(module=ShardedOptimStateDictConfig, force=True)
FUNCTIONS.register_module(module=size_based_auto_wrap_policy, force=True)


@lru_cache(maxsize=None)
def resolve_classes(paths):
    """Import ``'package.module.Class'`` paths; a bad one raises
    ``ImportError`` naming it."""
    classes = []
    for path in paths:
        module, _, name = str(path).rpartition('.')
        try:
            cls = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError, ValueError) as err:
            raise ImportError(
                f'auto_wrap_policy wrap_module_classes: can not import '
                f'{path!r} ({err}); give classes as full import paths, e.g. '
                "'projects.internimage.internimage.InternImageLayer'"
            ) from None
        if not isinstance(cls, type) or not issubclass(cls, torch.nn.Module):
            raise ImportError(f'auto_wrap_policy wrap_module_classes: '
                              f'{path!r} is not an nn.Module class')
        classes.append(cls)
    return tuple(classes)


@FUNCTIONS.register_module()
def wrap_module_classes(module, recurse, nonwrapped_numel, classes=()):
    """FSDP auto-wrap policy: one FSDP unit per instance of ``classes``
    (import paths of block/stage classes); the rest joins the root unit."""
    return recurse or isinstance(module, resolve_classes(tuple(classes)))


def is_shard_record(value):
    return isinstance(value, dict) and value.get(SHARD_MARK) is True


def encode_shards(obj):
    """Replace every ``ShardedTensor`` in ``obj`` (nested dicts/lists) by
    ``{SHARD_MARK: True, 'shape': [...], 'shards': [[offsets, tensor]]}``:
    plain data that ``torch.load(weights_only=True)`` reads."""
    from torch.distributed._shard.sharded_tensor import ShardedTensor
    from torch.distributed.tensor import DTensor
    if isinstance(obj, ShardedTensor):
        return {SHARD_MARK: True, 'shape': list(obj.size()),
                'shards': [[list(s.metadata.shard_offsets), s.tensor]
                           for s in obj.local_shards()]}
    if isinstance(obj, DTensor):
        raise TypeError('FSDPStrategy: DTensor state dicts (a device mesh) '
                        'are not supported by the sharded checkpoint format')
    if isinstance(obj, dict):
        return type(obj)((k, encode_shards(v)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(encode_shards(v) for v in obj)
    return obj


def decode_shards(obj, device):
    """Inverse of :func:`encode_shards` in the current process group (a
    collective: every rank decodes the same keys in the same order)."""
    from torch.distributed._shard.sharded_tensor import (Shard, ShardMetadata,
                                                         init_from_local_shards)
    if is_shard_record(obj):
        rank = get_rank()
        shards = [Shard(t.to(device), ShardMetadata(
            list(offsets), list(t.shape), f'rank:{rank}/{device}'))
            for offsets, t in obj['shards']]
        return init_from_local_shards(shards, *obj['shape'])
    if isinstance(obj, dict):
        return type(obj)((k, decode_shards(v, device)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(decode_shards(v, device) for v in obj)
    return obj


def consolidate_shards(states, names):
    """Merge the per-rank state dicts ``states`` (``encode_shards`` records,
    rank order; ``names`` name them in errors) into full tensors. Entries
    that are not records (replicated buffers) are taken from rank 0.

    Raises:
        ValueError: the ranks hold different keys, or the shards of a
            tensor do not cover it exactly once.
    """
    keys = list(states[0])
    for state, name in zip(states[1:], names[1:]):
        if list(state) != keys:
            extra = sorted(set(state) ^ set(keys))[:3]
            raise ValueError(f'{name} holds other keys than {names[0]} '
                             f'(e.g. {extra}); the shards are not of one run')
    full = {}
    for key in keys:
        if not is_shard_record(states[0][key]):
            full[key] = states[0][key]
            continue
        shape = states[0][key]['shape']
        pieces = [(o, t, n) for s, n in zip(states, names)
                  for o, t in s[key]['shards']]
        dtype = pieces[0][1].dtype if pieces else torch.float32
        out = torch.zeros(shape, dtype=dtype)
        count = torch.zeros(shape, dtype=torch.int32)
        for offsets, tensor, name in pieces:
            if len(offsets) != len(shape) or any(
                    o < 0 or o + s > d
                    for o, s, d in zip(offsets, tensor.shape, shape)):
                raise ValueError(f'{name}: shard of {key} at {offsets} with '
                                 f'shape {list(tensor.shape)} lies outside '
                                 f'its shape {shape}')
            index = tuple(slice(o, o + s)
                          for o, s in zip(offsets, tensor.shape))
            out[index] = tensor
            count[index] += 1
        if not bool((count == 1).all()):
            raise ValueError(
                f'the shards of {key} in {", ".join(names)} cover '
                f'{int((count > 0).sum())} of its {out.numel()} elements '
                f'({int((count > 1).sum())} more than once): missing or '
                'mixed rank files')
        full[key] = out
    return full


def _compute_device():
    if torch.cuda.is_available():
        return torch.device('cuda', torch.cuda.current_device())
    return torch.device('cpu')


@STRATEGIES.register_module(force=True)
class FSDPStrategy(_MMEngineFSDPStrategy):
    """mmengine's ``FSDPStrategy`` (same arguments) with the optimizer built
    on the unsharded model, gradient clipping over all shards and sharded
    checkpoints stored as plain tensors (see the module docstring)."""

    def prepare(self, model, *, optim_wrapper=None, param_scheduler=None,
                compile=False, dispatch_kwargs=None):
        if (not self._prepared and isinstance(optim_wrapper, dict)
                and ('optimizer' in optim_wrapper
                     or 'constructor' in optim_wrapper)):
            optim_wrapper = copy.deepcopy(optim_wrapper)
            if optim_wrapper.get('type') in ('AmpOptimWrapper',
                                             AmpOptimWrapper):
                optim_wrapper.setdefault('use_fsdp', True)
            model = self.build_model(model)
            optim_wrapper = _build_optim_wrapper(model, optim_wrapper)
        prepared = super().prepare(
            model, optim_wrapper=optim_wrapper,
            param_scheduler=param_scheduler, compile=compile,
            dispatch_kwargs=dispatch_kwargs)
        wrapper = getattr(self, 'optim_wrapper', None)
        if (isinstance(wrapper, BaseOptimWrapper) and getattr(
                wrapper, 'clip_func', None) is torch.nn.utils.clip_grad_norm_):
            wrapper.clip_func = self._clip_grad_norm
        return prepared

    def build_optim_wrapper(self, optim_wrapper, model=None):
        """An optim wrapper built on the unsharded model is kept: with
        ``use_orig_params=True`` FSDP keeps the original ``Parameter``
        objects (as views of the local shards)."""
        if not isinstance(optim_wrapper, BaseOptimWrapper):
            return super().build_optim_wrapper(optim_wrapper, model)
        owned = {id(p) for p in model.parameters()}
        for group in optim_wrapper.optimizer.param_groups:
            if any(id(p) not in owned for p in group['params']):
                raise RuntimeError(
                    'FSDPStrategy: the optimizer holds parameters that the '
                    'sharded model does not; set use_orig_params=True in '
                    'strategy.model_wrapper')
        return optim_wrapper

    def _clip_grad_norm(self, params, max_norm, norm_type=2.0):
        """``OptimWrapper``'s norm clipping over the whole sharded model."""
        return self.model.clip_grad_norm_(max_norm, norm_type)

    def save_checkpoint(self, filename, *, extra_ckpt=None, **kwargs):
        """As mmengine's; a sharded save records each file's rank and
        returns when every rank's file is written (so ``last_checkpoint``,
        written next by rank 0, never names a folder with files missing)."""
        if self._is_full_state_dict():
            return super().save_checkpoint(filename, extra_ckpt=extra_ckpt,
                                           **kwargs)
        extra_ckpt = dict(extra_ckpt or {})
        extra_ckpt.setdefault('meta', {})['fsdp_shard'] = dict(
            rank=get_rank(), world_size=get_world_size())
        super().save_checkpoint(filename, extra_ckpt=extra_ckpt, **kwargs)
        barrier()

    def load_checkpoint(self, filename, **kwargs):
        """A sharded run also loads a plain checkpoint (``load_from`` a
        pre-trained or consolidated file): any path that is not a folder
        of rank files is read whole and sharded while loading."""
        if self._is_full_state_dict() and osp.isdir(filename):
            raise ValueError(
                f'{filename} is a sharded checkpoint (one file per rank) and '
                "this run saves full ones: resume it with strategy."
                "state_dict_cfg='sharded', or merge it with tools/"
                'model_converters/consolidate_fsdp.py and load the result')
        if self._is_full_state_dict() or osp.isdir(filename):
            return super().load_checkpoint(filename, **kwargs)
        with FSDP.state_dict_type(
                self.model, StateDictType.FULL_STATE_DICT,
                FullStateDictConfig(rank0_only=False, offload_to_cpu=False)):
            return super(DDPStrategy, self).load_checkpoint(
                filename, **kwargs)

    def model_state_dict(self):
        return encode_shards(super().model_state_dict())

    def optim_state_dict(self):
        return encode_shards(super().optim_state_dict())

    def load_model_state_dict(self, state_dict, *, strict=False,
                              revise_keys=[(r'^module.', '')]):
        super().load_model_state_dict(
            decode_shards(state_dict, _compute_device()), strict=strict,
            revise_keys=revise_keys)

    def load_optim_state_dict(self, state_dict):
        # mmengine 0.10.7 passes the arguments in torch < 2.1's order
        optimizer = self.optim_wrapper.optimizer
        self.optim_wrapper.load_state_dict(FSDP.optim_state_dict_to_load(
            self.model, optimizer,
            decode_shards(state_dict, _compute_device())))


__all__ = ['FSDPStrategy', 'wrap_module_classes', 'encode_shards',
           'decode_shards', 'consolidate_shards', 'is_shard_record']
