"""mmengine checkpoints load with weights_only=True; foreign objects are refused."""
import os
import pickle

import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub
from mmengine.runner.checkpoint import _load_checkpoint, save_checkpoint

from projects.stack_compat import UnsafeCheckpointError, load_checkpoint_file


def mmengine_style_checkpoint(path):
    """A checkpoint with what mmengine's Runner.save_checkpoint writes."""
    hub = MessageHub('policy-test')
    for v in (1.5, 2.5, 0.25):
        hub.update_scalar('train/loss', v)
    hub.update_info('iter', 3)
    model = torch.nn.Linear(3, 2)
    optim = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.ones(1, 3)).sum().backward()
    optim.step()
    checkpoint = dict(
        meta=dict(epoch=0, iter=3, seed=0, cfg='model = dict()',
                  dataset_meta=dict(classes=('a', 'b')),
                  mmengine_version='0.10.7'),
        state_dict=model.state_dict(), optimizer=optim.state_dict(),
        message_hub=hub.state_dict(),
        param_schedulers=[dict(base_lrs=[0.1], last_step=3)])
    save_checkpoint(checkpoint, str(path))
    return checkpoint


def test_mmengine_checkpoint_loads_through_mmengine(tmp_path):
    path = tmp_path / 'iter_3.pth'
    saved = mmengine_style_checkpoint(path)
    loaded = _load_checkpoint(str(path), map_location='cpu')
    buffer = loaded['message_hub']['log_scalars']['train/loss']
    assert isinstance(buffer, HistoryBuffer)
    assert buffer.mean() == pytest.approx((1.5 + 2.5 + 0.25) / 3)
    assert loaded['meta']['dataset_meta'] == dict(classes=('a', 'b'))
    torch.testing.assert_close(loaded['state_dict']['weight'],
                               saved['state_dict']['weight'])
    hub = MessageHub('policy-test-resumed')
    hub.load_state_dict(loaded['message_hub'])
    assert hub.get_info('iter') == 3


def test_foreign_object_is_refused_and_not_executed(exploit_checkpoint):
    path, marker = exploit_checkpoint
    with pytest.raises(UnsafeCheckpointError) as err:
        _load_checkpoint(str(path))
    assert str(path) in str(err.value)
    assert 'builtins.open' in str(err.value) or 'io.open' in str(err.value)
    assert not marker.exists()


class WritesMarker:
    """Unpickling this creates a file (a harmless stand-in for code)."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, 'w'))


def test_old_format_payload_is_refused_with_the_same_message(tmp_path):
    marker = tmp_path / 'executed'
    path = tmp_path / 'legacy.pth'
    torch.save({'state_dict': {'w': torch.ones(2)},
                'extra': WritesMarker(str(marker))}, path,
               _use_new_zipfile_serialization=False)
    with pytest.raises(UnsafeCheckpointError) as err:
        _load_checkpoint(str(path))
    text = str(err.value)
    assert f'checkpoint {path} refused' in text
    assert 'builtins.open' in text or 'io.open' in text
    assert 'weights_only=False' not in text and '\n' not in text
    assert not marker.exists()
    torch.save({'state_dict': {'w': torch.ones(2)}}, path,
               _use_new_zipfile_serialization=False)
    assert torch.equal(_load_checkpoint(str(path))['state_dict']['w'],
                       torch.ones(2))


def test_plain_pickle_and_missing_files_get_clear_errors(tmp_path):
    path = tmp_path / 'legacy.pth'
    with open(path, 'wb') as f:
        pickle.dump({'a': os.getcwd}, f, protocol=2)  # like torch's old format
    with pytest.raises(UnsafeCheckpointError,
                       match=f'{path} refused: .*posix.getcwd'):
        load_checkpoint_file(str(path))
    path.write_text('not a checkpoint')
    with pytest.raises(UnsafeCheckpointError,
                       match=f'{path} refused: it is not a weights-only'):
        load_checkpoint_file(str(path))
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        load_checkpoint_file(str(tmp_path / 'missing.pth'))


def test_python_config_text_in_checkpoint_meta_is_dropped(tmp_path):
    """mmengine's Runner.resume executes ``meta['config']`` (old mmcv
    checkpoints) as a Python config; it never reaches it."""
    marker = tmp_path / 'executed'
    path = tmp_path / 'iter_3.pth'
    mmengine_style_checkpoint(path)
    checkpoint = torch.load(path, weights_only=True)
    checkpoint['meta']['config'] = f'x = open({str(marker)!r}, "w")'
    torch.save(checkpoint, path)
    loaded = _load_checkpoint(str(path))
    assert 'config' not in loaded['meta']
    assert loaded['meta']['iter'] == 3 and not marker.exists()


@pytest.mark.parametrize('keep', [0, 100, 0.5])
def test_truncated_checkpoint_is_named_with_alternatives(tmp_path, keep):
    path = tmp_path / 'iter_4.pth'
    torch.save({'state_dict': {'w': torch.zeros(1000)}}, path)
    torch.save({'state_dict': {}}, tmp_path / 'iter_2.pth')
    data = path.read_bytes()
    path.write_bytes(data[:int(keep * len(data)) if keep < 1 else keep])
    with pytest.raises(UnsafeCheckpointError,
                       match=r'iter_4.pth is truncated or corrupted.*'
                             r'its folder: iter_2.pth\)'):
        load_checkpoint_file(str(path))
