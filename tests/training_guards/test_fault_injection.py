"""FaultInjectionHook options for runs launched by another tool: the whole
process group dies, only the run whose work dir matches, and only once."""
import subprocess
import sys
from pathlib import Path

import pytest

from projects.training_guards import FaultInjectionHook

ROOT = Path(__file__).resolve().parents[2]

# a launcher (like tools/search_loss.py) whose child trains a toy model
# for 4 iterations with the hook; the launcher prints after the child ends
LAUNCHER = '''
import subprocess, sys
proc = subprocess.run([sys.executable, '-c', {child!r}])
print('launcher survived', proc.returncode, flush=True)
'''
CHILD = '''
import sys
sys.path.insert(0, {root!r})
import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner
import projects.training_guards  # noqa: F401


class Toy(BaseModel):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(1))

    def forward(self, x, mode='loss'):
        return dict(loss=(self.w * x).pow(2).mean())


Runner(model=Toy(), work_dir={work!r},
       train_dataloader=dict(dataset=[dict(x=torch.ones(1))] * 4,
                             batch_size=1, num_workers=0,
                             sampler=dict(type='DefaultSampler',
                                          shuffle=False),
                             collate_fn=dict(type='default_collate')),
       train_cfg=dict(by_epoch=False, max_iters=4),
       optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
       default_hooks=dict(checkpoint=None),
       custom_hooks=[dict(type='FaultInjectionHook', point='train', iter=2,
                          {options})],
       log_level='WARNING').train()
print('trained', flush=True)
'''


def launch(tmp_path, work, options):
    child = CHILD.format(root=str(ROOT), work=str(tmp_path / work),
                         options=options)
    return subprocess.run(
        [sys.executable, '-c', LAUNCHER.format(child=child)],
        capture_output=True, text=True, start_new_session=True)


def test_group_scope_kills_the_launcher_once(tmp_path):
    marker = tmp_path / 'marker'
    options = (f"scope='group', marker={str(marker)!r}, "
               "work_dir='*/sample_1'")
    proc = launch(tmp_path, 'sample_1', options)
    assert proc.returncode == -9 and 'survived' not in proc.stdout
    assert marker.read_text() == 'train 2\n'
    proc = launch(tmp_path, 'sample_1', options)  # the marker exists
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.splitlines()[-2:] == ['trained', 'launcher survived 0']


def test_other_work_dirs_and_process_scope(tmp_path):
    proc = launch(tmp_path, 'sample_0', "work_dir='*/sample_1'")
    assert proc.returncode == 0 and 'trained' in proc.stdout
    proc = launch(tmp_path, 'sample_1', "work_dir='*/sample_1'")
    # scope='process': the run dies, the launcher goes on
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.splitlines()[-1] == 'launcher survived -9'
    assert 'trained' not in proc.stdout


def test_bad_scope_is_rejected():
    with pytest.raises(ValueError, match="scope must be one of"):
        FaultInjectionHook('train', 1, scope='node')
