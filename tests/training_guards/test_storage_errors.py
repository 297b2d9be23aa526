"""A failed write names its file and keeps the old one; a storage error
becomes one line naming the path and the last good checkpoint."""
import errno
import os

import pytest

from projects.training_guards import atomic_write, storage_error_message


def test_failed_write_names_the_target_and_keeps_the_old_file(tmp_path,
                                                              monkeypatch):
    path = tmp_path / 'iter_4.pth'
    atomic_write(path, b'old')

    def full(fd):  # a write to a full disk names no file
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, 'fsync', full)
    with pytest.raises(OSError) as err:
        atomic_write(path, b'new')
    assert err.value.errno == errno.ENOSPC
    assert err.value.filename == str(path)
    assert path.read_bytes() == b'old'
    assert [p.name for p in tmp_path.iterdir()] == ['iter_4.pth']


def test_read_only_folder_names_the_target(tmp_path, monkeypatch):
    import tempfile

    def read_only(dir, prefix, suffix):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS),
                      os.path.join(dir, prefix + 'x' + suffix))

    monkeypatch.setattr(tempfile, 'mkstemp', read_only)
    with pytest.raises(OSError) as err:
        atomic_write(tmp_path / 'metrics.json', 'x', mode='w')
    assert (err.value.errno, err.value.filename) == (
        errno.EROFS, str(tmp_path / 'metrics.json'))
    assert isinstance(err.value.__cause__, OSError)


def test_storage_error_message(tmp_path):
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_2.pth'))
    full = OSError(errno.ENOSPC, 'No space left on device',
                   str(tmp_path / 'iter_4.pth'))
    message = storage_error_message(full, str(tmp_path))
    assert message == (
        f'cannot write {tmp_path}/iter_4.pth: No space left on device '
        f'(ENOSPC); nothing written before it is lost. Last good '
        f'checkpoint: {tmp_path}/iter_2.pth. To go on, free some space and '
        'resume with --resume.')
    unnamed = OSError(errno.ENOSPC, 'No space left on device')
    assert f'cannot write a file in {tmp_path}:' in storage_error_message(
        unnamed, str(tmp_path))
    read_only = OSError(errno.EROFS, 'Read-only file system',
                        str(tmp_path / '20250101_000000'))
    message = storage_error_message(read_only, str(tmp_path),
                                    checkpoint='model.pth')
    assert '(EROFS)' in message and '\n' not in message
    assert 'Last good checkpoint: model.pth (unchanged)' in message
    assert f'make {tmp_path} writable or choose another --work-dir.' in \
        message
    # a permission error in the work dir is the work dir's; a missing data
    # file elsewhere is not a storage error
    denied = PermissionError(errno.EACCES, 'Permission denied',
                             str(tmp_path / 'sub' / 'x.log'))
    assert '(EACCES)' in storage_error_message(denied, str(tmp_path))
    missing = FileNotFoundError(errno.ENOENT, 'No such file or directory',
                                '/data/coco/img.jpg')
    assert storage_error_message(missing, str(tmp_path)) is None
