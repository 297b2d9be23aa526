"""tools/benchmark_transfer.py SIGKILLed in the middle of a task's training
(the benchmark, tools/train.py and the dataloader workers:
FaultInjectionHook scope='group') resumes without re-running the finished
task and ends with the results table of an uninterrupted run."""
import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import torch
from mmengine.config import Config

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / 'configs/benchmark/tiny_synthetic.py'
# what an uninterrupted and a resumed benchmark must agree on
ROW_KEYS = ('pretrained', 'task', 'mode', 'metric', 'status', 'value',
            'metrics', 'error', 'stage')


def write_protocol(path, fault_marker=None):
    """The kNN and linear-probe tasks of tiny_synthetic.py cut to 4
    iterations (checkpoints every 2) with two dataloader workers; the
    fault kills the linear probe's training after its iteration 3."""
    tiny = Config.fromfile(str(TINY))
    tasks = {t['name']: copy.deepcopy(t) for t in tiny.to_dict()['tasks']}
    knn, linear = tasks['in1k_knn'], tasks['in1k_linear']
    for task in (knn, linear):
        task['config'] = str(ROOT / task['config'])
    knn['settings']['test_cfg.bank_dataloader.num_workers'] = 2
    linear['settings']['train_dataloader.batch_size'] = 8
    if fault_marker:
        linear['settings']['custom_hooks'] = [dict(
            type='FaultInjectionHook', point='train', iter=3, scope='group',
            marker=str(fault_marker))]
    settings = dict(tiny.settings)
    settings.update({
        'train_cfg.max_iters': 4, 'default_hooks.checkpoint.interval': 2,
        'default_hooks.logger.interval': 1,
        'train_dataloader.num_workers': 2,
        'train_dataloader.persistent_workers': True,
        'test_dataloader.num_workers': 2,
        'test_dataloader.persistent_workers': True})
    path.write_text(f'settings = {settings!r}\ntasks = {[knn, linear]!r}\n'
                    "pretrained_prefix = 'backbone.'\n")
    return path


def benchmark(cwd, protocol, work_dir):
    return subprocess.run(
        [sys.executable, str(ROOT / 'tools/benchmark_transfer.py'),
         str(protocol), '--pretrained', f'r18={cwd}/r18.pth', '--work-dir',
         str(work_dir)], cwd=cwd, capture_output=True, text=True,
        start_new_session=True)  # a group of its own to kill


def rows(work_dir):
    """``{task: row}``; the key match of the tested checkpoint (whose path
    is in the work dir) must be complete."""
    out = {}
    for r in json.loads((work_dir / 'results.json').read_text()):
        row = out[r['task']] = {k: copy.deepcopy(r.get(k)) for k in ROW_KEYS}
        keys = (row['metrics'] or {}).pop('checkpoint_keys', None)
        if keys is not None:
            assert keys['loaded'] == keys['total'] and not keys['missing']
    return out


def test_killed_benchmark_resumes_to_the_uninterrupted_table(
        tmp_path, imagenet_root):
    (tmp_path / 'data').mkdir()
    os.symlink(imagenet_root, tmp_path / 'data/synthetic_imagenet')
    from mmpretrain.models.backbones import ResNet
    torch.manual_seed(0)
    torch.save(dict(state_dict={f'backbone.{k}': v for k, v in
                                ResNet(depth=18).state_dict().items()}),
               tmp_path / 'r18.pth')
    marker = tmp_path / 'fault.marker'
    faulty = write_protocol(tmp_path / 'faulty.py', marker)
    work = tmp_path / 'faulty'

    proc = benchmark(tmp_path, faulty, work)
    assert proc.returncode == -9, proc.stdout[-3000:]
    assert marker.read_text() == 'train 3\n'
    knn_result = work / 'r18/in1k_knn/result.json'
    assert json.loads(knn_result.read_text())['status'] == 'done'
    linear = work / 'r18/in1k_linear'
    assert (linear / 'train/last_checkpoint').read_text().endswith(
        'iter_2.pth')
    assert not (linear / 'result.json').exists()
    assert rows(work)['in1k_linear']['status'] == 'pending'
    knn_written = knn_result.stat().st_mtime_ns

    proc = benchmark(tmp_path, faulty, work)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert '[r18 -> in1k_knn] skip' in proc.stdout
    assert '[r18 -> in1k_linear] resume' in proc.stdout
    assert knn_result.stat().st_mtime_ns == knn_written

    reference = tmp_path / 'reference'
    proc = benchmark(tmp_path, write_protocol(tmp_path / 'reference.py'),
                     reference)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert rows(work) == rows(reference)
    assert all(r['status'] == 'done' for r in rows(work).values())
    tables = [(d / 'results.md').read_text().split('\n', 1)[1]
              for d in (work, reference)]  # below the protocol's name
    assert tables[0] == tables[1]
    trained = [torch.load(d / 'r18/in1k_linear/train/iter_4.pth',
                          weights_only=False)['state_dict']
               for d in (work, reference)]
    for key, value in trained[1].items():
        assert torch.equal(trained[0][key], value), key
