"""tools/train.py and tools/test.py on a full disk and a read-only work dir
(faults injected in the tool's process by storage_fault.py, since chmod
does not stop root): exit status 2 with one line naming the path and the
last good checkpoint, and nothing written before is lost."""
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
FAULT = Path(__file__).with_name('storage_fault.py')
RETINANET = ROOT / ('configs/retinanet/'
                    'retinanet_r18_fpn_tiny_1xb4-300it_synthetic-coco.py')
OPTS = ['--cfg-options', 'train_cfg.max_iters=4', 'train_cfg.val_interval=100',
        'default_hooks.checkpoint.interval=2', 'train_dataloader.batch_size=2',
        'randomness.seed=0']


def run(cwd, *args, fault=None):
    cmd = [sys.executable, *([str(FAULT), *fault] if fault else []),
           *map(str, args)]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)


def error_lines(proc):
    assert 'Traceback' not in proc.stderr, proc.stderr[-3000:]
    return [ln for ln in proc.stderr.splitlines() if ln.startswith('error')]


def link_coco(tmp_path, coco_root):
    (tmp_path / 'data').mkdir()
    os.symlink(coco_root, tmp_path / 'data/synthetic_coco')


def test_train_on_full_disk_stops_cleanly_and_resumes(tmp_path, coco_root):
    link_coco(tmp_path, coco_root)
    work = tmp_path / 'work'
    train = [ROOT / 'tools/train.py', RETINANET, '--work-dir', work]
    proc = run(tmp_path, *train, *OPTS,
               fault=['enospc', '*/.iter_4.pth.*.tmp'])
    assert proc.returncode == 2, proc.stderr[-3000:]
    (line, ) = error_lines(proc)
    assert f'cannot write {work}/iter_4.pth: No space left on device ' \
        '(ENOSPC)' in line
    assert f'Last good checkpoint: {work}/iter_2.pth.' in line
    assert 'free some space and resume with --resume' in line
    # nothing lost: the last checkpoint is complete and named, no leftovers
    assert (work / 'last_checkpoint').read_text() == str(work / 'iter_2.pth')
    assert torch.load(work / 'iter_2.pth', weights_only=False)['meta'][
        'iter'] == 2
    assert not (work / 'iter_4.pth').exists()
    assert not list(work.glob('.*.tmp'))
    proc = run(tmp_path, *train, '--resume', *OPTS)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert torch.load(work / 'iter_4.pth', weights_only=False)['meta'][
        'iter'] == 4


def test_train_into_read_only_work_dir(tmp_path, coco_root):
    link_coco(tmp_path, coco_root)
    work = tmp_path / 'ro'
    work.mkdir()
    proc = run(tmp_path, ROOT / 'tools/train.py', RETINANET, '--work-dir',
               work, *OPTS, fault=['erofs', f'{work}/*'])
    assert proc.returncode == 2, proc.stderr[-3000:]
    (line, ) = error_lines(proc)
    assert f'cannot write {work}/' in line
    assert 'Read-only file system (EROFS)' in line
    assert 'Last good checkpoint: none saved yet.' in line
    assert f'make {work} writable or choose another --work-dir' in line
    assert list(work.iterdir()) == []


def test_test_tool_on_read_only_and_full_work_dir(tmp_path, coco_root):
    link_coco(tmp_path, coco_root)
    ckpt = tmp_path / 'init.pth'
    proc = run(tmp_path, ROOT / 'tools/misc/init_checkpoint.py', RETINANET,
               ckpt)
    assert proc.returncode == 0, proc.stderr[-3000:]
    test = [ROOT / 'tools/test.py', RETINANET, ckpt, '--work-dir']
    ro = tmp_path / 'ro'
    ro.mkdir()
    proc = run(tmp_path, *test, ro, fault=['erofs', f'{ro}/*'])
    assert proc.returncode == 2, proc.stderr[-3000:]
    (line, ) = error_lines(proc)
    assert f'cannot write {ro}/' in line and '(EROFS)' in line
    assert f'Last good checkpoint: {ckpt} (unchanged).' in line

    full = tmp_path / 'full'
    proc = run(tmp_path, *test, full, fault=['enospc', '*/.metrics.json.*'])
    assert proc.returncode == 2, proc.stderr[-3000:]
    (line, ) = error_lines(proc)
    (log_dir, ) = [p for p in full.iterdir() if p.is_dir()]
    assert f'cannot write {log_dir}/metrics.json: No space left on device' \
        in line
    assert not (log_dir / 'metrics.json').exists()
    # the metrics are not lost: printed before the file was written
    (printed, ) = [ln for ln in proc.stdout.splitlines()
                   if ln.startswith('metrics: ')]
    metrics = json.loads(printed[len('metrics: '):])
    assert 0.0 <= metrics['coco/bbox_mAP'] <= 1.0
