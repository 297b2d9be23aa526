"""tools/benchmark_transfer.py machinery: protocols, launch commands, the
resume plan, and a real (very short) run with a failing task."""
import csv
import json
import os
import textwrap
from pathlib import Path

import pytest
import torch

from projects.transfer_benchmark import (Launcher, Pretrained, ProtocolError,
                                         TransferBenchmark, load_protocol)

ROOT = Path(__file__).resolve().parents[2]
RETINANET = ('configs/retinanet/'
             'retinanet_r18_fpn_tiny_1xb4-300it_synthetic-coco.py')


def write_protocol(path, tasks, settings=None):
    path.write_text(textwrap.dedent(f"""\
        settings = {settings or {}!r}
        tasks = {tasks!r}
        """))
    return path


TINY = {
    'train_cfg.max_iters': 2,
    'train_dataloader.batch_size': 2, 'train_dataloader.num_workers': 0,
    'train_dataloader.persistent_workers': False,
    'test_dataloader.batch_size': 2, 'test_dataloader.num_workers': 0,
    'test_dataloader.persistent_workers': False,
    'default_hooks.checkpoint.interval': 2,
    'default_hooks.logger.interval': 1,
    'optim_wrapper.optimizer.lr': 0.0,  # weights stay the pre-trained ones
    'param_scheduler': [],
}


@pytest.mark.parametrize('tasks,message', [
    ([dict(name='a', config=RETINANET)], "tasks[0] misses ['metric']"),
    ([dict(name='a', config='no_such_cfg', metric='m')],
     "tasks[0] (a): config 'no_such_cfg' is neither a file nor a zoo entry"),
    ([dict(name='a', config=RETINANET, metric='m', lr=1)],
     "tasks[0] (a): unknown key(s) ['lr']"),
    ([dict(name='a', config=RETINANET, metric='m')] * 2,
     "tasks[1]: duplicate task name 'a'"),
])
def test_protocol_errors_name_file_and_task(tmp_path, tasks, message):
    path = write_protocol(tmp_path / 'p.py', tasks)
    with pytest.raises(ProtocolError) as err:
        load_protocol(path)
    assert str(err.value).startswith(f'protocol {path}: ')
    assert message in str(err.value)


@pytest.mark.parametrize('kind,train,test', [
    ('local', ['PY', 'R/tools/train.py', 'c.py', '--work-dir', 'w',
               '--resume'],
     ['PY', 'R/tools/test.py', 'c.py', 'k.pth', '--work-dir', 't']),
    ('torchrun', ['bash', 'R/tools/dist_train.sh', 'c.py', '4', '--work-dir',
                  'w', '--resume'],
     ['bash', 'R/tools/dist_test.sh', 'c.py', 'k.pth', '4', '--work-dir',
      't']),
    ('slurm', ['bash', 'R/tools/slurm_train.sh', 'gpu', 'p-job', 'c.py', 'w',
               '--resume'],
     ['bash', 'R/tools/slurm_test.sh', 'gpu', 'p-job', 'c.py', 'k.pth',
      '--work-dir', 't']),
])
def test_launcher_command_lines(kind, train, test):
    launcher = Launcher(kind, gpus=4, partition='gpu', job_prefix='p',
                        python='PY', root='R')
    assert launcher.train('c.py', 'w', resume=True, job_name='job') == train
    assert launcher.test('c.py', 'k.pth', 't', job_name='job') == test
    assert '--resume' not in launcher.train('c.py', 'w')
    assert launcher.env({})['PYTHONPATH'] == 'R'


def test_plan_skips_finished_and_resumes_checkpoints(tmp_path):
    protocol = load_protocol(write_protocol(tmp_path / 'p.py', [
        dict(name='a', config=RETINANET, metric='m'),
        dict(name='b', config=RETINANET, metric='m', train=False)]))
    bench = TransferBenchmark(protocol, [Pretrained('x', 'x.pth')],
                              tmp_path / 'runs', cwd=tmp_path)
    a, b = protocol.tasks
    run = tmp_path / 'runs/x/a'
    assert bench.plan(bench.pretrained[0], a) == 'fresh'
    assert bench.plan(bench.pretrained[0], b) == 'test'  # evaluation only
    (run / 'train').mkdir(parents=True)
    (run / 'train/last_checkpoint').write_text('iter_1.pth')
    assert bench.plan(bench.pretrained[0], a) == 'resume'
    (run / 'result.json').write_text(json.dumps(dict(status='failed')))
    assert bench.plan(bench.pretrained[0], a) == 'resume'  # retried
    (run / 'train/done.json').write_text('{}')
    assert bench.plan(bench.pretrained[0], a) == 'test'
    (run / 'result.json').write_text(json.dumps(dict(status='done')))
    assert bench.plan(bench.pretrained[0], a) == 'skip'


def test_short_run_keeps_results_when_a_task_fails(tmp_path, coco_root):
    """2 training iterations + evaluation on the 6 val images through
    tools/train.py and tools/test.py; a broken second task fails without
    losing the first one's result, and a rerun skips the finished run."""
    (tmp_path / 'data').mkdir()
    os.symlink(coco_root, tmp_path / 'data/synthetic_coco')
    from mmdet.models.backbones import ResNet
    gen = torch.Generator().manual_seed(123)
    backbone = ResNet(depth=18).state_dict()
    pretrained = {f'backbone.{k}': torch.randn(v.shape, generator=gen) * 0.05
                  if v.dim() == 4 else v  # new conv weights, BN as built
                  for k, v in backbone.items()}
    torch.save(dict(state_dict=pretrained), tmp_path / 'pre.pth')
    protocol = load_protocol(write_protocol(tmp_path / 'p.py', [
        dict(name='det', config=RETINANET, metric='coco/bbox_mAP'),
        dict(name='broken', config=RETINANET, metric='coco/bbox_mAP',
             settings={'model.bbox_head.type': 'NoSuchHead'}),
    ], TINY))
    bench = TransferBenchmark(protocol, [Pretrained('rand', str(
        tmp_path / 'pre.pth'))], tmp_path / 'runs', cwd=tmp_path,
        log=lambda *a: None)
    rows = bench.run()
    det, broken = rows
    assert det['status'] == 'done', det['error']
    (metrics_file,) = (tmp_path / 'runs/rand/det/test').glob('*/metrics.json')
    assert det['value'] == json.loads(metrics_file.read_text())[
        'coco/bbox_mAP']
    assert 0.0 <= det['value'] <= 1.0
    assert broken['status'] == 'failed' and broken['stage'] == 'train'
    assert 'NoSuchHead' in broken['error']
    # the trained model started from the pre-trained backbone (lr = 0)
    state = torch.load(det['trained_checkpoint'], map_location='cpu',
                       weights_only=False)['state_dict']
    for key in ('backbone.layer4.1.conv2.weight', 'backbone.conv1.weight'):
        assert torch.equal(state[key], pretrained[key]), key
    # one table with both runs, CSV, JSON, PNG
    table = (tmp_path / 'runs/results.md').read_text()
    assert f'| rand | {det["value"]:.4g} | failed (train) |' in table
    with open(tmp_path / 'runs/results.csv') as f:
        csv_rows = {r['task']: r for r in csv.DictReader(f)}
    assert csv_rows['det']['status'] == 'done'
    assert 'NoSuchHead' in csv_rows['broken']['error']
    assert (tmp_path / 'runs/results.png').read_bytes()[:4] == b'\x89PNG'

    # rerun: the finished run is skipped (no tool runs), results kept
    result = tmp_path / 'runs/rand/det/result.json'
    before = result.stat().st_mtime_ns, (tmp_path / 'runs/rand/det/train.log'
                                         ).stat().st_mtime_ns
    protocol.tasks = protocol.tasks[:1]
    bench = TransferBenchmark(protocol, bench.pretrained, tmp_path / 'runs',
                              cwd=tmp_path, log=lambda *a: None)
    assert bench.run()[0] == det
    assert (result.stat().st_mtime_ns, (tmp_path / 'runs/rand/det/train.log'
                                        ).stat().st_mtime_ns) == before
    rows = json.loads((tmp_path / 'runs/results.json').read_text())
    assert {(r['task'], r['status']) for r in rows} == {
        ('det', 'done'), ('broken', 'failed')}
