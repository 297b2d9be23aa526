"""Loading a checkpoint or a data config never runs code from it.

torch >= 2.6 loads with ``weights_only=True`` by default, and mmengine 0.10.7
checkpoints carry a few non-tensor objects (the message hub's
``HistoryBuffer`` and numpy arrays/scalars), so resuming fails. Instead of
falling back to full unpickling, exactly those types are allow-listed and
every checkpoint is read with ``weights_only=True``, whatever its address:
local paths, ``http(s)://`` (``torch.hub``'s cache included),
``torchvision://``, ``modelzoo://``, ``open-mmlab://``, ``openmmlab://``,
``mmcls://``, ``pavi://`` and ``s3://``/``petrel://``, in the old (non-zip)
format too. A file carrying any other pickled object is refused with
:class:`UnsafeCheckpointError` before any of it is executed. mmengine's YAML
reader (configs, metafiles) gets ``yaml.SafeLoader`` semantics.
"""
import contextlib
import importlib
import io
import logging
import os
import os.path as osp
import pickle
import re
import struct
import sys
from tempfile import TemporaryDirectory
from urllib.parse import urlparse

import numpy as np
import torch
import torch.hub
import torch.utils.model_zoo
import yaml

_HUB_LOAD_STATE_DICT_FROM_URL = torch.hub.load_state_dict_from_url
_SAFE_YAML_LOADER = getattr(yaml, 'CSafeLoader', yaml.SafeLoader)
_UNSAFE_GLOBAL = re.compile(
    r'GLOBAL (\S+?)(?: was not an allowed global| whose module)')


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


def _unsafe_globals(file, err):
    """The refused globals: all of them for a zip checkpoint, else the one
    torch's weights-only unpickler stopped at (old, non-zip format)."""
    found = set(_UNSAFE_GLOBAL.findall(str(err)))
    with contextlib.suppress(Exception):  # not a zip checkpoint
        if hasattr(file, 'seek'):
            file.seek(0)
        found.update(torch.serialization.get_unsafe_globals_in_checkpoint(
            file))
    return sorted(found)


@contextlib.contextmanager
def _refusals(file, name):
    """Turn a failed ``torch.load(file, weights_only=True)`` into
    :class:`UnsafeCheckpointError` naming ``name`` (torch's own message
    suggests ``weights_only=False``, which is exactly what must not be done).
    """
    try:
        yield
    except (RuntimeError, EOFError) as err:
        if isinstance(err, RuntimeError) and 'PytorchStreamReader' not in \
                str(err):
            raise
        where = (f'its folder: {_other_checkpoints(file)}'
                 if isinstance(file, str) and osp.isfile(file) else 'none')
        raise UnsafeCheckpointError(
            f'checkpoint {name} is truncated or corrupted '
            f'({(str(err).splitlines() or [type(err).__name__])[0]}); resume '
            f'from another one with --resume PATH (other checkpoints in '
            f'{where})') from None
    except (pickle.UnpicklingError, KeyError, IndexError, ValueError,
            TypeError, struct.error) as err:  # the latter: not a pickle
        if isinstance(err, UnsafeCheckpointError):
            raise
        unsafe = _unsafe_globals(file, err)
        if unsafe:
            reason = (f'it holds pickled objects {unsafe}, which a '
                      'weights-only load does not accept (only tensors, '
                      'plain containers and the types mmengine writes into '
                      'checkpoints are)')
        else:
            text = str(err).split('WeightsUnpickler error:', 1)[-1].strip()
            reason = ('it is not a weights-only checkpoint ('
                      f'{type(err).__name__}: '
                      f'{(text.splitlines() or [""])[0]})')
        raise UnsafeCheckpointError(
            f'checkpoint {name} refused: {reason}; nothing in it was '
            'executed. VisionPlug never unpickles arbitrary objects: re-save '
            'it as plain tensors, numbers and strings (e.g. its state_dict) '
            'where the file is trusted.') from None


def read_checkpoint(file, map_location=None, name=None):
    """``torch.load(file, weights_only=True)`` with mmengine's allow-list.

    Args:
        file (str | file-like): A local path or a binary buffer.
        map_location: As for :func:`torch.load`.
        name (str, optional): What error messages call the checkpoint (its
            address); defaults to ``file``.

    Raises:
        UnsafeCheckpointError: the file references a non-allow-listed global
            (named in the message; nothing of it was executed), or it is not
            a checkpoint, truncated or corrupted.
    """
    with _refusals(file, name or file):
        return torch.load(file, map_location=map_location, weights_only=True)


def load_checkpoint_file(filename, map_location=None, name=None):
    """Load a local checkpoint through :func:`read_checkpoint`.

    Raises:
        FileNotFoundError: the file does not exist.
        UnsafeCheckpointError: see :func:`read_checkpoint`.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint {name or filename} can not be '
                                'found')
    return read_checkpoint(filename, map_location, name)


def load_checkpoint_or_exit(filename, map_location='cpu'):
    """:func:`load_checkpoint_file` for command-line tools: a missing or
    refused file exits with status 1 and a one-line ``error:`` message."""
    try:
        return load_checkpoint_file(filename, map_location)
    except (FileNotFoundError, UnsafeCheckpointError) as err:
        sys.exit(f'error: {err}')


def load_url(url, model_dir=None, map_location=None, progress=True,
             check_hash=False, file_name=None, weights_only=True):
    """``torch.hub.load_state_dict_from_url``, always weights-only.

    Downloads into (or reuses) torch.hub's cache as torch does;
    ``weights_only=False`` is ignored. Errors name the URL and the cached
    file (delete it to download again).
    """
    model_dir = model_dir or osp.join(torch.hub.get_dir(), 'checkpoints')
    cached = osp.join(model_dir,
                      file_name or osp.basename(urlparse(url).path))
    with _refusals(cached, f'{url} (cached as {cached})'):
        return _HUB_LOAD_STATE_DICT_FROM_URL(
            url, model_dir=model_dir, map_location=map_location,
            progress=progress, check_hash=check_hash, file_name=file_name,
            weights_only=True)


def load_from_openmmlab(filename, map_location=None):
    """mmengine's ``open-mmlab://``/``openmmlab://`` loader, weights-only
    also for names mapped to a file under ``MMENGINE_HOME``."""
    from mmengine.runner import checkpoint as mm
    name = filename.split('://', 1)[1]
    name = mm.get_deprecated_model_names().get(name, name)
    address = mm.get_external_models()[name]
    if address.startswith(('http://', 'https://')):
        return mm.load_from_http(address, map_location=map_location)
    path = osp.join(mm._get_mmengine_home(), address)
    return load_checkpoint_file(path, map_location, f'{filename} ({path})')


def load_from_pavi(filename, map_location=None):
    """mmengine's ``pavi://`` loader (needs ``pavi``), weights-only."""
    try:
        from pavi import modelcloud
    except ImportError:
        raise ImportError(f'{filename} needs the pavi package (pip install '
                          'pavi) to be downloaded') from None
    model = modelcloud.get(filename[len('pavi://'):])
    with TemporaryDirectory() as tmp_dir:
        path = osp.join(tmp_dir, model.name)
        model.download(path)
        return load_checkpoint_file(path, map_location, name=filename)


def load_from_ceph(filename, map_location=None, backend='petrel'):
    """mmengine's ``s3://``/``petrel://`` loader, weights-only."""
    from mmengine.fileio import get_file_backend
    data = get_file_backend(filename,
                            backend_args={'backend': backend}).get(filename)
    return read_checkpoint(io.BytesIO(data), map_location, name=filename)


def without_config_code(checkpoint, filename):
    """Drop ``meta['config']`` (old mmcv checkpoints: Python config text)
    from a loaded checkpoint: mmengine's ``Runner.resume`` would execute it
    to compare GPU counts. Returns ``checkpoint``."""
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    if isinstance(meta, dict) and 'config' in meta:
        from mmengine.logging import print_log
        del meta['config']
        print_log(f"checkpoint {filename}: meta['config'] (Python config "
                  'text) is ignored; code in checkpoints is never executed',
                  logger='current', level=logging.WARNING)
    return checkpoint


def _checkpoint_loader_without_config_code(load):
    def load_checkpoint(cls, filename, map_location=None, logger='current'):
        return without_config_code(load(cls, filename, map_location, logger),
                                   filename)
    load_checkpoint.policy_wrapped = load
    return classmethod(load_checkpoint)


def safe_yaml_load(self, file, **kwargs):
    """mmengine's ``YamlHandler.load_from_fileobj`` with ``yaml.SafeLoader``
    semantics: ``!!python/...`` tags raise ``yaml.YAMLError`` (any
    ``Loader`` passed is replaced)."""
    kwargs['Loader'] = _SAFE_YAML_LOADER
    return yaml.load(file, **kwargs)


def install():
    """Route every checkpoint load and mmengine YAML read through the policy
    (idempotent)."""
    from mmengine.fileio.handlers.yaml_handler import YamlHandler
    from mmengine.runner import checkpoint as mm
    from mmengine.utils import dl_utils
    torch.serialization.add_safe_globals(mmengine_checkpoint_types())
    torch.hub.load_state_dict_from_url = load_url
    torch.utils.model_zoo.load_url = load_url
    for module in (mm, dl_utils, sys.modules['mmengine.utils.dl_utils.hub']):
        module.load_url = load_url  # http(s)/torchvision/modelzoo/mmcls
    for prefixes, loader in [
            ('', load_checkpoint_file),
            (('open-mmlab://', 'openmmlab://'), load_from_openmmlab),
            ('pavi://', load_from_pavi),
            ((r'(\S+\:)?s3://', r'(\S+\:)?petrel://'), load_from_ceph)]:
        mm.CheckpointLoader.register_scheme(prefixes, loader, force=True)
    if not hasattr(mm.CheckpointLoader.load_checkpoint, 'policy_wrapped'):
        mm.CheckpointLoader.load_checkpoint = \
            _checkpoint_loader_without_config_code(
                mm.CheckpointLoader.load_checkpoint.__func__)
    YamlHandler.load_from_fileobj = safe_yaml_load
