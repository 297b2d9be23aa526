"""Weights-only checkpoint loading that still reads mmengine's own checkpoints.

torch >= 2.6 loads with ``weights_only=True`` by default, and mmengine 0.10.7
checkpoints carry a few non-tensor objects (the message hub's
``HistoryBuffer`` and numpy arrays/scalars), so resuming fails. Instead of
falling back to full unpickling, exactly those types are allow-listed and local
checkpoints are always read with ``weights_only=True``: a file carrying any
other pickled object is refused with :class:`UnsafeCheckpointError` before any
of it is executed.
"""
import importlib
import os
import os.path as osp
import pickle

import numpy as np
import torch


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint holds pickled objects outside the allow-list, or it can
    not be read at all (truncated or corrupted)."""


def _other_checkpoints(filename):
    folder = osp.dirname(osp.abspath(filename))
    names = sorted(n for n in os.listdir(folder)
                   if n.endswith('.pth') and n != osp.basename(filename))
    return ', '.join(names) or 'none'


def history_buffer_getattr(owner, name):
    """``getattr`` as allowed while unpickling: HistoryBuffer methods only.

    A ``HistoryBuffer`` pickles its statistics methods (``HistoryBuffer.mean``
    ...) as ``getattr(HistoryBuffer, 'mean')``; any other use is refused.
    """
    from mmengine.logging.history_buffer import HistoryBuffer
    allowed = {'min', 'max', 'current', 'mean',
               *HistoryBuffer._statistics_methods}
    if owner is HistoryBuffer and name in allowed:
        return getattr(owner, name)
    raise pickle.UnpicklingError(
        f'getattr({getattr(owner, "__name__", type(owner).__name__)}, '
        f'{name!r}) is not allowed in a checkpoint')


def mmengine_checkpoint_types():
    """The classes and functions an mmengine checkpoint may reference."""
    from mmengine.logging.history_buffer import HistoryBuffer
    allowed = [HistoryBuffer, np.ndarray, np.dtype,
               (history_buffer_getattr, 'builtins.getattr')]
    for name in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        allowed += [module._reconstruct, module.scalar]
    allowed += [getattr(np.dtypes, n) for n in np.dtypes.__all__]
    return allowed


def load_checkpoint_file(filename, map_location=None):
    """Load a local checkpoint with ``weights_only=True`` and the allow-list.

    Raises:
        FileNotFoundError: the file does not exist.
        UnsafeCheckpointError: the file references a non-allow-listed global
            (named in the message; nothing of it was executed), or it is
            truncated or corrupted (the message lists the other checkpoints
            of its folder).
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename} can not be found')
    try:
        return torch.load(filename, map_location=map_location,
                          weights_only=True)
    except (RuntimeError, EOFError) as err:
        if isinstance(err, RuntimeError) and 'PytorchStreamReader' not in \
                str(err):
            raise
        raise UnsafeCheckpointError(
            f'checkpoint {filename} is truncated or corrupted '
            f'({(str(err).splitlines() or [type(err).__name__])[0]}); resume '
            f'from another one with --resume PATH (other checkpoints in '
            f'its folder: {_other_checkpoints(filename)})') from None
    except pickle.UnpicklingError as err:
        try:
            unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(
                filename)
        except Exception:  # not a zip checkpoint: report the original error
            unsafe = []
        if not unsafe:
            raise pickle.UnpicklingError(
                f'checkpoint {filename} could not be read as a weights-only '
                f'checkpoint: {str(err).splitlines()[0]}') from None
        raise UnsafeCheckpointError(
            f'refusing to load checkpoint {filename}: it contains pickled '
            f'objects {sorted(unsafe)}, which are neither tensors nor the '
            'types mmengine writes into checkpoints. VisionPlug never '
            'unpickles arbitrary objects; re-save the checkpoint as plain '
            'tensors, numbers and strings (e.g. its state_dict) to use it.'
        ) from None


def install():
    """Allow-list mmengine's types and route local loads through the policy."""
    from mmengine.runner.checkpoint import CheckpointLoader
    torch.serialization.add_safe_globals(mmengine_checkpoint_types())
    CheckpointLoader.register_scheme(prefixes='', loader=load_checkpoint_file,
                                     force=True)
