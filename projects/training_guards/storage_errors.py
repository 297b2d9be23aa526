"""One clear line, instead of a traceback, when the work dir can not be
written (read-only file system, disk full, quota, permissions)."""
import errno
import os
import os.path as osp

from .finite_loss import last_checkpoint

# a failed write with one of these is the storage's fault wherever it is
STORAGE_ERRNOS = (errno.ENOSPC, errno.EROFS, errno.EDQUOT)
FULL = (errno.ENOSPC, errno.EDQUOT)


def _inside(path, folder):
    path, folder = osp.realpath(path), osp.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def storage_error_message(err, work_dir, checkpoint=None):
    """The one-line report of ``err``, or None when it is not a storage error.

    ``err`` is a storage error when it names a file in ``work_dir`` or its
    errno is ENOSPC, EROFS or EDQUOT (a failed ``write`` names no file: the
    work dir is named instead).

    Args:
        err (OSError): the error.
        work_dir (str): the run's work dir.
        checkpoint (str, optional): the checkpoint being evaluated
            (``tools/test.py``); without it the message names the work dir's
            last checkpoint and says how to resume the training.
    """
    path = err.filename
    if not ((path is not None and _inside(path, work_dir))
            or err.errno in STORAGE_ERRNOS):
        return None
    where = path if path is not None else f'a file in {work_dir}'
    name = errno.errorcode.get(err.errno, str(err.errno))
    reason = err.strerror or str(err)
    if err.errno in FULL:
        fix = 'free some space'
    else:
        fix = f'make {work_dir} writable or choose another --work-dir'
    if checkpoint is None:
        last, then = last_checkpoint(work_dir), ' and resume with --resume'
    else:
        last, then = f'{checkpoint} (unchanged)', ''
    return (f'cannot write {where}: {reason} ({name}); nothing written '
            f'before it is lost. Last good checkpoint: {last}. To go on, '
            f'{fix}{then}.')
