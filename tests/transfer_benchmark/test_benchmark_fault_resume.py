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


def write_protocol(path, fault_marker=None, fault_work_dir=None,
                   names=('in1k_knn', 'in1k_linear'), workers=2):
    """The kNN and linear-probe tasks (``names``) of tiny_synthetic.py cut
    to 4 iterations (checkpoints every 2) with ``workers`` dataloader
    workers; the fault kills the linear probe's training after its
    iteration 3 (in the run whose work dir matches ``fault_work_dir``)."""
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
            marker=str(fault_marker), work_dir=fault_work_dir)]
    settings = dict(tiny.settings)
    settings.update({
        'train_cfg.max_iters': 4, 'default_hooks.checkpoint.interval': 2,
        'default_hooks.logger.interval': 1,
        'train_dataloader.num_workers': workers,
        'train_dataloader.persistent_workers': workers > 0,
        'test_dataloader.num_workers': workers,
        'test_dataloader.persistent_workers': workers > 0})
    chosen = [t for t in (knn, linear) if t['name'] in names]
    path.write_text(f'settings = {settings!r}\ntasks = {chosen!r}\n'
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


def test_killed_seeded_benchmark_keeps_finished_seeds(tmp_path,
                                                      imagenet_root):
    """``--seeds 0 1``: seed 1's training is killed; the rerun skips the
    finished seed 0, resumes seed 1 and reports mean ± std over both."""
    (tmp_path / 'data').mkdir()
    os.symlink(imagenet_root, tmp_path / 'data/synthetic_imagenet')
    from mmpretrain.models.backbones import ResNet
    torch.manual_seed(0)
    torch.save(dict(state_dict={f'backbone.{k}': v for k, v in
                                ResNet(depth=18).state_dict().items()}),
               tmp_path / 'r18.pth')
    protocol = write_protocol(tmp_path / 'seeded.py',
                              tmp_path / 'fault.marker', '*/seed1/train',
                              names=('in1k_linear', ), workers=0)
    work = tmp_path / 'seeded'

    def run():
        return subprocess.run(
            [sys.executable, str(ROOT / 'tools/benchmark_transfer.py'),
             str(protocol), '--pretrained', f'r18={tmp_path}/r18.pth',
             '--work-dir', str(work), '--seeds', '0', '1'], cwd=tmp_path,
            capture_output=True, text=True, start_new_session=True)

    proc = run()
    assert proc.returncode == -9, proc.stdout[-3000:]
    runs = work / 'r18/in1k_linear'
    seed0 = runs / 'seed0/result.json'
    assert json.loads(seed0.read_text())['status'] == 'done'
    assert not (runs / 'seed1/result.json').exists()
    written = seed0.stat().st_mtime_ns

    proc = run()
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert '[r18 -> in1k_linear seed 0] skip' in proc.stdout
    assert '[r18 -> in1k_linear seed 1] resume' in proc.stdout
    assert seed0.stat().st_mtime_ns == written
    for seed in (0, 1):
        cfg = Config.fromfile(str(runs / f'seed{seed}/config.py'))
        assert cfg.randomness.seed == seed
    values = [json.loads((runs / f'seed{s}/result.json').read_text())
              ['value'] for s in (0, 1)]
    (summary, ) = json.loads((work / 'results_summary.json').read_text())
    assert summary['values'] == values and summary['n'] == 2
    mean = sum(values) / 2
    std = abs(values[0] - values[1]) / 2 ** 0.5
    assert abs(summary['mean'] - mean) < 1e-9
    assert abs(summary['std'] - std) < 1e-9
    assert f'{mean:.4g} ± {std:.2g} (n=2)' in \
        (work / 'results.md').read_text()
    assert (work / 'results.png').stat().st_size > 0
