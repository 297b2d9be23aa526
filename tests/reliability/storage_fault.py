"""Run a tool with a storage fault injected (tests run as root, where chmod
can not make a folder read-only).

    python storage_fault.py erofs PATTERN TOOL [ARGS ...]
    python storage_fault.py enospc PATTERN TOOL [ARGS ...]

``erofs``: creating a folder or opening a file for writing whose absolute
path matches the ``fnmatch`` PATTERN raises ``OSError(EROFS, ..., path)``,
as on a file system mounted read-only. ``enospc``: ``os.fsync`` of a file
whose path matches raises ``OSError(ENOSPC, ...)`` without a file name, as
a write to a full disk does. TOOL then runs as ``__main__``.
"""
import builtins
import errno
import fnmatch
import io
import os
import os.path as osp
import runpy
import sys

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND


def install_erofs(pattern):
    def hit(path):
        return isinstance(path, (str, bytes, os.PathLike)) and \
            fnmatch.fnmatch(osp.abspath(os.fsdecode(path)), pattern)

    def refuse(path):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fsdecode(path))

    real_mkdir, real_os_open, real_open = os.mkdir, os.open, builtins.open

    def mkdir(path, *args, **kwargs):
        if hit(path) and not osp.isdir(path):
            refuse(path)
        return real_mkdir(path, *args, **kwargs)

    def os_open(path, flags, *args, **kwargs):
        if flags & WRITE_FLAGS and hit(path):
            refuse(path)
        return real_os_open(path, flags, *args, **kwargs)

    def open_(file, mode='r', *args, **kwargs):
        if set(mode) & set('wax+') and hit(file):
            refuse(file)
        return real_open(file, mode, *args, **kwargs)

    os.mkdir, os.open, builtins.open, io.open = mkdir, os_open, open_, open_


def install_enospc(pattern):
    real_fsync = os.fsync

    def fsync(fd):
        fd = fd if isinstance(fd, int) else fd.fileno()
        path = os.readlink(f'/proc/self/fd/{fd}')
        if fnmatch.fnmatch(path, pattern):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    os.fsync = fsync


if __name__ == '__main__':
    kind, pattern, tool, *args = sys.argv[1:]
    dict(erofs=install_erofs, enospc=install_enospc)[kind](pattern)
    sys.argv = [tool, *args]
    runpy.run_path(tool, run_name='__main__')
