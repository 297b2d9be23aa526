"""Atomic local writes for mmengine's file backend.

mmengine writes checkpoints, ``last_checkpoint`` and dumped results with
``LocalBackend.put``/``put_text``, i.e. ``open(path, 'wb').write(...)``: a
process killed during the write leaves a truncated file under the final
name. :func:`install` replaces both methods by writes to a temporary file in
the same directory, flushed and fsynced, then renamed over the target, so a
reader sees either the old file or the complete new one.
"""
import os
import os.path as osp
import tempfile

from mmengine.fileio.backends import LocalBackend


def atomic_write(path, data, mode='wb', encoding=None):
    """Write ``data`` to ``path`` so that ``path`` is never half-written."""
    path = os.fspath(path)
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f'.{osp.basename(path)}.',
                               suffix='.tmp')
    try:
        with os.fdopen(fd, mode, encoding=encoding) as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.unlink(tmp)
        raise


def _put(self, obj, filepath):
    atomic_write(filepath, obj)


def _put_text(self, obj, filepath, encoding='utf-8'):
    atomic_write(filepath, obj, mode='w', encoding=encoding)


def install():
    """Make ``LocalBackend.put``/``put_text`` atomic (idempotent)."""
    LocalBackend.put = _put
    LocalBackend.put_text = _put_text
