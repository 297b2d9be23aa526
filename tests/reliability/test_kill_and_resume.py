"""A training run SIGKILLed mid-iteration, mid-checkpoint-write and
mid-evaluation resumes with ``--resume`` to the bitwise weights, losses and
metrics of an uninterrupted run with the same seed."""
import json
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
RETINANET = ROOT / ('configs/retinanet/'
                    'retinanet_r18_fpn_tiny_1xb4-300it_synthetic-coco.py')
OPTS = ['train_cfg.max_iters=6', 'train_cfg.val_interval=3',
        'default_hooks.checkpoint.interval=2',
        'default_hooks.logger.interval=1', 'train_dataloader.batch_size=2',
        'randomness.seed=3', 'randomness.deterministic=True']


def train(cwd, work_dir, *extra, fault=None):
    config = RETINANET
    if fault:
        config = Path(cwd, f'fault_{fault[0]}{fault[1]}.py')
        config.write_text(
            f'_base_ = [{str(RETINANET)!r}]\n'
            f'custom_hooks = [dict(type=\'FaultInjectionHook\', '
            f'point={fault[0]!r}, iter={fault[1]})]\n')
    return subprocess.run(
        [sys.executable, str(ROOT / 'tools/train.py'), str(config),
         '--work-dir', work_dir, *extra, '--cfg-options', *OPTS],
        cwd=cwd, capture_output=True, text=True)


def logged(work_dir):
    """Every scalar row of every (partial) run in the work dir, keyed by
    ('train', iteration) or ('val', iteration it follows); the last logged
    value wins, as a resumed run re-does the iterations it lost."""
    rows = {}
    for path in sorted(Path(work_dir).glob('*/vis_data/scalars.json')):
        step = 0
        for line in path.read_text().splitlines():
            row = json.loads(line)
            if 'coco/bbox_mAP' in row:
                key = ('val', step)
            else:
                step = row['step']
                key = ('train', step)
            rows[key] = {k: v for k, v in row.items()
                         if k not in ('time', 'data_time', 'memory', 'eta')}
    return rows


def test_killed_three_times_ends_like_an_uninterrupted_run(tmp_path):
    subprocess.run([sys.executable,
                    str(ROOT / 'tools/dataset_converters/make_synthetic.py'),
                    'coco', '--out', 'data/synthetic_coco', '--num-train', '8',
                    '--num-val', '2'], cwd=tmp_path, check=True,
                   capture_output=True)
    ref = train(tmp_path, 'ref')
    assert ref.returncode == 0, ref.stderr[-3000:]

    faults = [('val', 3), ('train', 5), ('checkpoint', 6)]
    for fault in faults:
        extra = ['--resume'] if fault != faults[0] else []
        proc = train(tmp_path, 'faulty', *extra, fault=fault)
        assert proc.returncode == -9, (fault, proc.stderr[-3000:])
        latest = (tmp_path / 'faulty/last_checkpoint').read_text()
        torch.load(latest, weights_only=False)  # never a truncated file
    assert latest.endswith('iter_4.pth')  # the killed write left it alone
    proc = train(tmp_path, 'faulty', '--resume')
    assert proc.returncode == 0, proc.stderr[-3000:]

    ref_rows, rows = logged(tmp_path / 'ref'), logged(tmp_path / 'faulty')
    assert sorted(rows) == sorted(ref_rows)
    assert len([k for k in rows if k[0] == 'val']) == 2
    for key in ref_rows:
        assert rows[key] == ref_rows[key], key
    final = [torch.load(tmp_path / d / 'iter_6.pth', weights_only=False)
             for d in ('ref', 'faulty')]
    for name, value in final[0]['state_dict'].items():
        assert torch.equal(value, final[1]['state_dict'][name]), name
    # the killed write's temporary file was removed by the next write
    assert not list((tmp_path / 'faulty').glob('.*.tmp'))
