"""Atomic checkpoint writes and the non-finite loss guard."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner, save_checkpoint

from projects.training_guards import (FiniteLossHook, NonFiniteLossError,
                                      atomic_torch_save, atomic_write)

ROOT = Path(__file__).resolve().parents[2]

# mmengine's save_checkpoint ends in LocalBackend.put; the child process
# installs the atomic put (without importing torch, to start fast) and is
# killed after writing the data, before the rename.
KILLED_WRITER = '''
import importlib.util, os, signal
spec = importlib.util.spec_from_file_location('atomic_files', {module!r})
atomic_files = importlib.util.module_from_spec(spec)
spec.loader.exec_module(atomic_files)
atomic_files.install()
from mmengine.fileio.backends import LocalBackend

def die(*args):
    os.kill(os.getpid(), signal.SIGKILL)

os.replace = die
LocalBackend().put(b'truncated?' * 100000, {path!r})
'''


def test_kill_during_checkpoint_write_keeps_previous_file(tmp_path):
    path = tmp_path / 'iter_2.pth'
    save_checkpoint({'state_dict': {'w': torch.zeros(3)}}, str(path))
    proc = subprocess.run(
        [sys.executable, '-c',
         KILLED_WRITER.format(
             module=str(ROOT / 'projects/training_guards/atomic_files.py'),
             path=str(path))])
    assert proc.returncode == -9  # SIGKILL
    old = torch.load(path, weights_only=True)
    assert old['state_dict']['w'].tolist() == [0.0, 0.0, 0.0]
    leftovers = [p.name for p in tmp_path.iterdir() if p != path]
    assert len(leftovers) == 1 and leftovers[0].endswith('.tmp')
    # the next write of the same file removes the dead writer's leftover
    save_checkpoint({'state_dict': {'w': torch.ones(3)}}, str(path))
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_atomic_torch_save_keeps_old_file_when_saving_fails(tmp_path):
    path = tmp_path / 'converted.pth'
    atomic_torch_save({'state_dict': {'w': torch.arange(3.)}}, path)
    assert torch.load(path, weights_only=True)['state_dict']['w'].tolist() == [0., 1., 2.]
    with pytest.raises(Exception):  # a lambda can not be pickled
        atomic_torch_save({'state_dict': {'w': torch.ones(3)}, 'f': lambda: 0}, path)
    assert torch.load(path, weights_only=True)['state_dict']['w'].tolist() == [0., 1., 2.]
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    atomic_torch_save({'w': torch.ones(2)}, tmp_path / 'new' / 'dir' / 'x.pth')
    assert torch.load(tmp_path / 'new' / 'dir' / 'x.pth')['w'].tolist() == [1., 1.]


def test_atomic_write_gives_the_mode_of_a_plain_open(tmp_path):
    mask = os.umask(0o022)
    os.umask(mask)
    plain = tmp_path / 'plain'
    plain.write_bytes(b'x')
    atomic_write(tmp_path / 'atomic', b'x')
    assert (tmp_path / 'atomic').stat().st_mode == plain.stat().st_mode
    os.chmod(plain, 0o640)  # a replaced file keeps its mode
    atomic_write(plain, b'y')
    assert plain.stat().st_mode & 0o777 == 0o640 and plain.read_bytes() == b'y'


class ToyModel(BaseModel):
    """loss_fit = (w x - y)^2 and loss_aux, which is NaN where x < 0."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(1, 1, bias=False)
        torch.nn.init.constant_(self.linear.weight, 1.0)

    def forward(self, x, y, mode='loss'):
        pred = self.linear(x[:, None])[:, 0]
        aux = torch.where(x < 0, torch.full_like(x, float('nan')), 0 * x)
        return dict(loss_fit=((pred - y) ** 2).mean(),
                    loss_aux=aux.mean() + 0 * pred.sum())


def run(tmp_path, action, xs):
    data = [dict(x=torch.tensor(float(x)), y=torch.tensor(2.0 * x))
            for x in xs]
    runner = Runner(
        model=ToyModel(), work_dir=str(tmp_path),
        train_dataloader=dict(
            dataset=data, batch_size=1, num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='default_collate')),
        train_cfg=dict(by_epoch=False, max_iters=len(xs)),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook',
                                           by_epoch=False, interval=1)),
        custom_hooks=[dict(type='FiniteLossHook', action=action)],
        log_level='WARNING', experiment_name=f'guard_{action}')
    return runner


def weight_after(tmp_path, iteration):
    ckpt = torch.load(tmp_path / f'iter_{iteration}.pth', weights_only=False)
    return ckpt['state_dict']['linear.weight'].item()


def test_nonfinite_loss_stops_before_the_update(tmp_path):
    runner = run(tmp_path, 'raise', [1.0, 1.0, -1.0, 1.0])
    with pytest.raises(NonFiniteLossError) as err:
        runner.train()
    message = str(err.value)
    assert 'iteration 3' in message and 'loss_aux' in message
    assert 'loss_fit' not in message.split('terms:')[1].split(')')[0]
    assert str(tmp_path / 'iter_2.pth') in message
    # the weights in memory are those of the last good step (iteration 2)
    assert runner.model.linear.weight.item() == weight_after(tmp_path, 2)


def test_skip_mode_leaves_weights_unchanged_and_goes_on(tmp_path):
    runner = run(tmp_path, 'skip', [1.0, -1.0, 1.0])
    runner.train()
    # w <- w - 0.1 * 2 (w - 2): 1 -> 1.2; skipped; 1.2 -> 1.36
    assert weight_after(tmp_path, 1) == pytest.approx(1.2)
    assert weight_after(tmp_path, 2) == weight_after(tmp_path, 1)
    assert weight_after(tmp_path, 3) == pytest.approx(1.36)
    hook = [h for h in runner.hooks if isinstance(h, FiniteLossHook)][0]
    assert hook.skipped == 1


def test_bad_action_is_rejected():
    with pytest.raises(ValueError, match="'raise' or 'skip'"):
        FiniteLossHook(action='ignore')
