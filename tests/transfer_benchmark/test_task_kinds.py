"""Evaluation-only (kNN), linear-probe and BEV tasks of the transfer
benchmark: protocol checks, the run plan (no training for kNN), generated
configs and commands, the metric-aware report, and a short real kNN run
whose table value is the one the KNNTestLoop produced."""
import json
import os
from pathlib import Path

import pytest
import torch

from projects.transfer_benchmark import (Pretrained, ProtocolError,
                                         TransferBenchmark, load_protocol,
                                         markdown_table)

ROOT = Path(__file__).resolve().parents[2]
KNN = 'configs/benchmark/tasks/knn_resnet18_headless_tiny_synthetic-imagenet.py'
LINEAR = ('configs/ssl_eval/'
          'resnet18-tiny_fair-pre_1xb32-linear-100it_synthetic-imagenet.py')
BEV = ('configs/bevformer_v2/'
       'bevformer-v2_r18_tiny_1xb2-600it_synthetic-nuscenes.py')
RETINANET = ('configs/retinanet/'
             'retinanet_r18_fpn_tiny_1xb4-300it_synthetic-coco.py')
TRAIN_SETTINGS = {'train_cfg.max_iters': 2,
                  'train_dataloader.batch_size': 2,
                  'param_scheduler': []}


def write_protocol(path, tasks, settings=None, **extra):
    lines = [f'settings = {settings or {}!r}', f'tasks = {tasks!r}']
    lines += [f'{k} = {v!r}' for k, v in extra.items()]
    path.write_text('\n'.join(lines) + '\n')
    return path


@pytest.mark.parametrize('tasks,extra,message', [
    ([dict(name='k', config=KNN, metric='knn/top1', train=True)], {},
     'tasks[0] (k): its config evaluates with KNNTestLoop (a frozen '
     'backbone, no training); remove train=True'),
    ([dict(name='k', config=KNN, metric='accuracy/top1')], {},
     "tasks[0] (k): metric 'accuracy/top1' is not reported by its "
     "KNNAccuracy evaluator (reports ['knn/top1', 'knn/top5'])"),
    ([dict(name='k', config=KNN, metric='knn/top5',
           settings={'test_evaluator.topk': [1]})], {},
     "reports ['knn/top1']"),
    ([dict(name='b', config=BEV, metric='nuscenes/NDS',
           backbone_key='backbone')], {},
     "tasks[0] (b): backbone_key 'backbone' is not a module of the model"),
    ([dict(name='a', config=RETINANET, metric='m')],
     dict(data=[dict(kind='kitti', out='data/kitti')]),
     "data[0]: unknown kind 'kitti' (one of ['ade20k', 'coco', 'imagenet', "
     "'nuscenes'])"),
    ([dict(name='a', config=RETINANET, metric='m')],
     dict(data=[dict(kind='nuscenes', out='d', num_classes=3)]),
     'data[0]: num_classes does not apply to nuscenes'),
])
def test_new_task_entries_fail_with_clear_errors(tmp_path, tasks, extra,
                                                 message):
    path = write_protocol(tmp_path / 'p.py', tasks, **extra)
    with pytest.raises(ProtocolError) as err:
        load_protocol(path)
    assert str(err.value).startswith(f'protocol {path}: ')
    assert message in str(err.value)


def test_task_kinds_plans_and_generated_configs(tmp_path):
    protocol = load_protocol(write_protocol(tmp_path / 'p.py', [
        dict(name='knn', config=KNN, metric='knn/top1'),
        dict(name='linear', config=LINEAR, metric='accuracy/top1'),
        dict(name='bev', config=BEV, metric='nuscenes/NDS'),
    ], TRAIN_SETTINGS))
    knn, linear, bev = protocol.tasks
    assert (knn.mode, knn.train, knn.backbone_key) == ('init', False,
                                                       'backbone')
    assert (linear.mode, linear.backbone_key) == ('train', 'backbone')
    assert (bev.mode, bev.backbone_key) == ('train', 'img_backbone')
    pre = Pretrained('x', str(tmp_path / 'x.pth'))
    logged = []
    bench = TransferBenchmark(protocol, [pre], tmp_path / 'runs',
                              cwd=tmp_path, dry_run=True, log=logged.append)

    # kNN: never trained, not even with a training checkpoint lying around
    run = tmp_path / 'runs/x/knn'
    assert bench.plan(pre, knn) == 'init'
    (run / 'train').mkdir(parents=True)
    (run / 'train/last_checkpoint').write_text('iter_1.pth')
    assert bench.plan(pre, knn) == 'init'
    (run / 'result.json').write_text(json.dumps(dict(status='failed')))
    assert bench.plan(pre, knn) == 'init'  # retried
    done = dict(status='done', metric='knn/top1', value=40.0,
                metrics={'knn/top1': 40.0, 'knn/top5': 90.0})
    (run / 'result.json').write_text(json.dumps(done))
    assert bench.plan(pre, knn) == 'skip'
    knn.metric = 'knn/top5'  # a stored metric: re-read, not re-run
    assert bench.plan(pre, knn) == 'reuse'
    real = TransferBenchmark(protocol, [pre], tmp_path / 'runs', cwd=tmp_path,
                             log=logged.append)  # runs nothing for 'reuse'
    assert real.run_one(pre, knn)['value'] == 90.0
    assert json.loads((run / 'result.json').read_text())['metric'] == \
        'knn/top5'
    assert bench.plan(pre, knn) == 'skip'
    (run / 'result.json').write_text(json.dumps(done))
    knn.metric = 'knn/top3'  # not stored: evaluate again
    assert bench.plan(pre, knn) == 'init'
    knn.metric = 'knn/top1'
    assert bench.plan(pre, bev) == 'fresh'

    # generated configs: init_cfg on the right module, no training in kNN
    from mmengine.config import Config
    cfgs = {}
    for task in protocol.tasks:
        path = tmp_path / f'{task.name}.py'
        path.write_text(bench.config_text(pre, task))
        cfgs[task.name] = Config.fromfile(str(path),
                                          import_custom_modules=False)
    init = dict(type='Pretrained', checkpoint=pre.checkpoint,
                prefix='backbone.')
    assert cfgs['knn'].model.backbone.init_cfg == init
    assert cfgs['linear'].model.backbone.init_cfg == init
    assert cfgs['bev'].model.img_backbone.init_cfg == init
    assert 'init_cfg' not in cfgs['bev'].model.get('backbone', {})
    for key in ('train_dataloader', 'train_cfg', 'optim_wrapper',
                'param_scheduler', 'val_cfg'):
        assert cfgs['knn'][key] is None, key
    assert cfgs['knn'].test_cfg.type == 'KNNTestLoop'
    assert cfgs['linear'].train_cfg.max_iters == 2
    assert cfgs['bev'].train_cfg.max_iters == 2

    # commands: kNN = init checkpoint (this Python) + tools/test.py on it
    (run / 'result.json').unlink()
    logged.clear()
    bench.run_one(pre, knn)
    cmds = [ln.strip()[2:].split() for ln in logged if ln.strip()[:1] == '$']
    assert [Path(c[1]).name for c in cmds] == ['init_checkpoint.py',
                                               'test.py']
    assert cmds[0][2:4] == [str(run / 'config.py'),
                            str(run / 'init/init.pth')]
    assert cmds[1][2:4] == [str(run / 'config.py'),
                            str(run / 'init/init.pth')]
    logged.clear()
    bench.run_one(pre, bev)
    cmds = [ln.strip()[2:].split() for ln in logged if ln.strip()[:1] == '$']
    assert [Path(c[1]).name for c in cmds] == ['train.py', 'test.py']


def test_data_entries_make_complete_roots_and_nuscenes_infos(tmp_path):
    protocol = load_protocol(write_protocol(
        tmp_path / 'p.py', [dict(name='a', config=RETINANET, metric='m')],
        data=[dict(kind='nuscenes', out='data/nus', num_train=1, num_val=1),
              dict(kind='imagenet', out='data/in', num_train=4, num_val=2,
                   num_classes=2, size=(32, 32))]))
    logged = []
    bench = TransferBenchmark(protocol, [], tmp_path / 'runs', cwd=tmp_path,
                              dry_run=True, log=logged.append)
    bench.prepare_data()
    nus, imn = [ln.split()[1:] for ln in logged]  # after '$'
    # generated next to the root and moved into place when complete
    assert nus[2:5] == ['nuscenes', '--out', str(tmp_path / 'data/.nus.partial')]
    assert imn[5:] == ['--num-train', '4', '--num-val', '2', '--num-classes',
                       '2', '--size', '32', '32']
    # an existing nuScenes root without infos gets them, of its version
    root = tmp_path / 'data/nus'
    (root / 'v1.0-synthetic').mkdir(parents=True)
    (root / 'v1.0-synthetic/scene.json').write_text('[]')
    (tmp_path / 'data/in').mkdir()
    logged.clear()
    bench.prepare_data()
    (cmd,) = [ln.split()[1:] for ln in logged]
    assert Path(cmd[1]).name == 'create_nuscenes_infos.py'
    assert cmd[2:] == ['--root', str(root), '--version', 'v1.0-synthetic']
    for split in ('train', 'val'):
        (root / f'nuscenes_infos_{split}.json').write_text('{}')
    logged.clear()
    bench.prepare_data()
    assert logged == []


def test_table_heads_each_task_with_its_metric():
    rows = [
        dict(pretrained='a', task='det', metric='coco/bbox_mAP', value=0.25,
             status='done'),
        dict(pretrained='a', task='knn', metric='knn/top1', value=41.5,
             status='done'),
        dict(pretrained='b', task='knn', metric='knn/top5', value=90.0,
             status='done'),
        dict(pretrained='b', task='det', metric='coco/bbox_mAP', value=None,
             status='failed', stage='init', error='boom'),
    ]
    table = markdown_table(rows, ['det', 'knn'],
                           {'det': 'coco/bbox_mAP', 'knn': 'knn/top1'})
    lines = table.splitlines()
    assert lines[0] == '| pre-trained | det (coco/bbox_mAP) | knn (knn/top1) |'
    assert lines[2] == '| a | 0.25 | 41.5 |'
    assert lines[3] == '| b | failed (init) | 90 (knn/top5) |'


def test_knn_task_end_to_end(tmp_path, imagenet_root):
    """init_checkpoint.py + tools/test.py on the 20 + 10 image fixture; the
    backbone arrives through init_cfg with a non-default prefix (so not by
    key matching of load_from), and the table value is the KNNTestLoop's
    knn/top1, which equals kNN on features extracted here with the
    pre-trained backbone."""
    (tmp_path / 'data').mkdir()
    os.symlink(imagenet_root, tmp_path / 'data/synthetic_imagenet')
    from mmpretrain.models.backbones import ResNet
    gen = torch.Generator().manual_seed(5)
    backbone = ResNet(depth=18).state_dict()
    state = {f'encoder.{k}': torch.randn(v.shape, generator=gen) * 0.1
             if v.dim() == 4 else v for k, v in backbone.items()}
    torch.save(dict(state_dict=state), tmp_path / 'pre.pth')
    protocol = load_protocol(write_protocol(tmp_path / 'p.py', [
        dict(name='knn', config=KNN, metric='knn/top1', settings={
            'test_dataloader.num_workers': 0,
            'test_cfg.bank_dataloader.num_workers': 0,
            'test_evaluator.k': 5})],
        {'randomness.seed': 0, 'train_cfg.max_iters': 2},
        pretrained_prefix='encoder.'))
    bench = TransferBenchmark(protocol, [Pretrained('rand', str(
        tmp_path / 'pre.pth'))], tmp_path / 'runs', cwd=tmp_path,
        log=lambda *a: None)
    (row,) = bench.run()
    assert row['status'] == 'done', row['error']
    run = tmp_path / 'runs/rand/knn'
    assert not (run / 'train').exists() and (run / 'init/init.pth').is_file()
    (metrics_file,) = (run / 'test').glob('*/metrics.json')
    metrics = json.loads(metrics_file.read_text())
    assert row['value'] == metrics['knn/top1']
    assert '| rand | {:.4g} |'.format(row['value']) in (
        tmp_path / 'runs/results.md').read_text()
    # init.pth holds the pre-trained backbone (loaded through init_cfg)
    init = torch.load(run / 'init/init.pth', weights_only=False)['state_dict']
    for key in ('conv1.weight', 'layer4.1.conv2.weight', 'bn1.weight'):
        assert torch.equal(init[f'backbone.{key}'], state[f'encoder.{key}'])

    # independent kNN of the same backbone on the same images
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import DATASETS
    from projects.ssl_eval import knn_accuracy
    cfg = Config.fromfile(str(run / 'config.py'))
    init_default_scope('mmpretrain')
    model = ResNet(depth=18, out_indices=(3, ))
    model.eval()
    model.load_state_dict({k[len('encoder.'):]: v for k, v in state.items()})
    mean = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)
    std = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)

    def features(split):
        ds = cfg.test_dataloader.dataset.copy()
        ds.update(split=split, data_root=str(imagenet_root))
        ds = DATASETS.build(ds)
        items = [ds[i] for i in range(len(ds))]
        imgs = torch.stack([it['inputs'] for it in items]).float()
        imgs = (imgs.flip(1) - mean) / std  # BGR -> RGB, normalise
        with torch.no_grad():
            feats = model(imgs)[-1].mean(dim=(2, 3))
        labels = torch.tensor([int(it['data_samples'].gt_label[0])
                               for it in items])
        return feats, labels

    bank, bank_labels = features('train')
    query, labels = features('val')
    ours = knn_accuracy(query, labels, bank, bank_labels, k=5,
                        temperature=0.07, topk=(1, 5))
    assert abs(ours['top1'] - row['value']) < 1e-6, (ours, metrics)
    assert abs(ours['top5'] - metrics['knn/top5']) < 1e-6
