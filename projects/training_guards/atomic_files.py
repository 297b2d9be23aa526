"""Atomic local writes for mmengine's file backend.

mmengine writes checkpoints, ``last_checkpoint`` and dumped results with
``LocalBackend.put``/``put_text``, i.e. ``open(path, 'wb').write(...)``: a
process killed during the write leaves a truncated file under the final
name. :func:`install` replaces both methods by writes to a temporary file in
the same directory, flushed and fsynced, then renamed over the target, so a
reader sees either the old file or the complete new one.
"""
import glob
import io
import os
import os.path as osp
import tempfile

from mmengine.fileio.backends import LocalBackend


def _process_umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# mkstemp creates 0600 files; the final file gets the mode a plain open()
# would give it (0666 minus the umask), or keeps the mode of the file it
# replaces.
_UMASK = _process_umask()

# Called (when set) between writing the temporary file and renaming it; the
# fault-injection hook uses it to die at the worst moment of a write.
before_replace = None


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def remove_stale_temporaries(path):
    """Delete temporary files of earlier writes of ``path`` whose writer
    process is gone (killed mid-write); return their names."""
    folder, name = osp.split(osp.abspath(path))
    removed = []
    for tmp in glob.glob(osp.join(glob.escape(folder),
                                  f'.{glob.escape(name)}.*.tmp')):
        pid = osp.basename(tmp)[len(name) + 2:].split('.')[0]
        if pid.isdigit() and not _alive(int(pid)):
            os.unlink(tmp)
            removed.append(tmp)
    return removed


def atomic_write(path, data, mode='wb', encoding=None):
    """Write ``data`` to ``path`` so that ``path`` is never half-written.

    The data goes to ``.<name>.<pid>.<random>.tmp`` next to ``path`` first;
    leftovers of writers that were killed are removed on the next write.

    Raises:
        OSError: the write failed (read-only file system, disk full, ...);
            its ``filename`` is ``path`` (a failed ``write`` or ``fsync``
            names no file), ``path`` is unchanged and the temporary file
            is gone.
    """
    path = os.fspath(path)
    try:
        _write_and_replace(path, data, mode, encoding)
    except OSError as err:
        if err.filename == path or err.errno is None:
            raise
        raise OSError(err.errno, err.strerror, path) from err


def _write_and_replace(path, data, mode, encoding):
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(
        dir=folder, prefix=f'.{osp.basename(path)}.{os.getpid()}.',
        suffix='.tmp')
    try:
        with os.fdopen(fd, mode, encoding=encoding) as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        mode_bits = (os.stat(path).st_mode & 0o7777 if osp.exists(path)
                     else 0o666 & ~_UMASK)
        os.chmod(tmp, mode_bits)
        if before_replace is not None:
            before_replace()
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_torch_save(obj, path):
    """``torch.save(obj, path)`` through :func:`atomic_write`: a killed
    writer leaves the previous file (or none), never a truncated one."""
    import torch
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write(path, buffer.getvalue())


def _put(self, obj, filepath):
    atomic_write(filepath, obj)


def _put_text(self, obj, filepath, encoding='utf-8'):
    atomic_write(filepath, obj, mode='w', encoding=encoding)


def install():
    """Make ``LocalBackend.put``/``put_text`` atomic (idempotent)."""
    LocalBackend.put = _put
    LocalBackend.put_text = _put_text
