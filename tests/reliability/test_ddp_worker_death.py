"""A 2-process DDP run (torchrun, gloo on CPU) whose rank 1 is SIGKILLed
stops cleanly (no hang, the other rank is torn down, the last checkpoint is
intact) and finishes with ``--resume``."""
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / 'tests/distributed'))
from ddp_harness import free_port  # noqa: E402
RETINANET = ROOT / ('configs/retinanet/'
                    'retinanet_r18_fpn_tiny_1xb4-300it_synthetic-coco.py')
OPTS = ['train_cfg.max_iters=4', 'default_hooks.checkpoint.interval=2',
        'default_hooks.logger.interval=1', 'train_dataloader.batch_size=1',
        'train_dataloader.num_workers=0', 'val_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'val_dataloader.persistent_workers=False']


def dist_train(cwd, config, *extra):
    env = dict(os.environ, PYTHON=sys.executable, PORT=str(free_port()),
               OMP_NUM_THREADS='1')
    return subprocess.run(
        ['bash', str(ROOT / 'tools/dist_train.sh'), str(config), '2',
         '--work-dir', 'ddp', *extra, '--cfg-options', *OPTS],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_dead_worker_stops_the_run_and_it_resumes(tmp_path):
    subprocess.run([sys.executable,
                    str(ROOT / 'tools/dataset_converters/make_synthetic.py'),
                    'coco', '--out', 'data/synthetic_coco', '--num-train', '8',
                    '--num-val', '2'], cwd=tmp_path, check=True,
                   capture_output=True)
    faulty = tmp_path / 'fault.py'
    faulty.write_text(
        f'_base_ = [{str(RETINANET)!r}]\n'
        "custom_hooks = [dict(type='FaultInjectionHook', point='train', "
        'iter=3, rank=1)]\n')
    proc = dist_train(tmp_path, faulty)
    assert proc.returncode != 0
    assert 'SIGKILL' in proc.stderr or 'Signal 9' in proc.stderr, \
        proc.stderr[-3000:]
    work = tmp_path / 'ddp'
    assert (work / 'last_checkpoint').read_text().endswith('iter_2.pth')
    assert torch.load(work / 'iter_2.pth', weights_only=False)['meta'][
        'iter'] == 2

    proc = dist_train(tmp_path, RETINANET, '--resume')
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = sorted(work.glob('*/vis_data/scalars.json'))
    assert len(runs) == 2
    steps = [json.loads(ln).get('iter') for ln in
             runs[1].read_text().splitlines()]
    assert [s for s in steps if s] == [3, 4]  # continued, nothing re-done
    final = torch.load(work / 'iter_4.pth', weights_only=False)
    assert final['meta']['iter'] == 4
    assert all(torch.isfinite(v).all() for v in final['state_dict'].values()
               if v.is_floating_point())
