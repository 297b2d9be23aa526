"""tools/train.py + tools/test.py end to end on synthetic data.

Each tiny zoo config is trained with its full schedule and evaluated with the
real evaluators; the trained model must clearly beat the untrained one. Resume
from a checkpoint must continue the loss curve exactly.
"""
import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RETINANET = ROOT / ('configs/retinanet/'
                    'retinanet_r18_fpn_tiny_1xb4-300it_synthetic-coco.py')
UPERNET = ROOT / ('configs/upernet/'
                  'upernet_r18_tiny_1xb4-200it_synthetic-ade20k.py')


def tool(cwd, *args, check=True):
    proc = subprocess.run([sys.executable, *map(str, args)], cwd=cwd,
                          capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f'{args} failed:\n{proc.stdout[-3000:]}\n'
                             f'{proc.stderr[-3000:]}')
    return proc


def make_data(cwd, kind, num_train, num_val):
    tool(cwd, ROOT / 'tools/dataset_converters/make_synthetic.py', kind,
         '--out', f'data/synthetic_{kind}', '--num-train', num_train,
         '--num-val', num_val)


def evaluate(cwd, config, checkpoint, work_dir):
    tool(cwd, ROOT / 'tools/test.py', config, checkpoint, '--work-dir',
         work_dir)
    (path,) = Path(cwd, work_dir).glob('*/metrics.json')
    return json.loads(path.read_text())


def scalars(work_dir):
    (path,) = Path(work_dir).glob('*/vis_data/scalars.json')
    rows = [json.loads(ln) for ln in path.read_text().splitlines()]
    return {r['iter']: r for r in rows if 'loss' in r}


@pytest.mark.parametrize('config,kind,iters,metric,trained_min', [
    (RETINANET, 'coco', 300, 'coco/bbox_mAP', 0.12),
    (UPERNET, 'ade20k', 200, 'mIoU', 20.0),
])
def test_train_then_test_beats_untrained(tmp_path, config, kind, iters,
                                         metric, trained_min):
    make_data(tmp_path, kind, 400, 100)
    tool(tmp_path, ROOT / 'tools/train.py', config, '--work-dir', 'train')
    checkpoint = (tmp_path / 'train/last_checkpoint').read_text().strip()
    assert checkpoint.endswith(f'iter_{iters}.pth')
    trained = evaluate(tmp_path, config, checkpoint, 'test_trained')
    tool(tmp_path, ROOT / 'tools/misc/init_checkpoint.py', config, 'init.pth')
    untrained = evaluate(tmp_path, config, 'init.pth', 'test_untrained')
    print(f'{config.name}: {metric} untrained {untrained[metric]:.4f} '
          f'trained {trained[metric]:.4f}')
    assert trained[metric] >= trained_min
    assert trained[metric] >= 5 * max(untrained[metric], 0.01)


def test_resume_continues_loss_curve(tmp_path):
    make_data(tmp_path, 'coco', 16, 4)
    opts = ['--cfg-options', 'train_cfg.max_iters=6',
            'default_hooks.checkpoint.interval=3',
            'default_hooks.logger.interval=1', 'train_cfg.val_interval=100',
            'train_dataloader.batch_size=2']
    tool(tmp_path, ROOT / 'tools/train.py', RETINANET, '--work-dir', 'full',
         *opts)
    tool(tmp_path, ROOT / 'tools/train.py', RETINANET, '--work-dir',
         'resumed', '--resume', 'full/iter_3.pth', *opts)
    full = scalars(tmp_path / 'full')
    resumed = scalars(tmp_path / 'resumed')
    assert sorted(full) == [1, 2, 3, 4, 5, 6]
    assert sorted(resumed) == [4, 5, 6]
    for it in (4, 5, 6):
        assert resumed[it]['loss'] == pytest.approx(full[it]['loss'],
                                                    rel=1e-5), it
        assert resumed[it]['lr'] == pytest.approx(full[it]['lr'], rel=1e-9)

    # test.py flags on the same run: --out dumps one prediction per val
    # image, --show-dir draws them.
    tool(tmp_path, ROOT / 'tools/test.py', RETINANET, 'full/iter_6.pth',
         '--work-dir', 'flags', '--out', 'preds.pkl', '--show-dir', 'vis')
    with open(tmp_path / 'preds.pkl', 'rb') as f:
        preds = pickle.load(f)
    assert len(preds) == 4 and 'pred_instances' in preds[0]
    assert len(list((tmp_path / 'flags').glob('*/vis/*.jpg'))) == 4


def test_bad_input_fails_fast_with_message(tmp_path):
    proc = tool(tmp_path, ROOT / 'tools/train.py', RETINANET, check=False)
    assert proc.returncode == 2
    assert "data_root 'data/synthetic_coco/'" in proc.stderr
    assert 'Traceback' not in proc.stderr
    make_data(tmp_path, 'coco', 2, 1)
    proc = tool(tmp_path, ROOT / 'tools/train.py', RETINANET, '--cfg-options',
                'model.bbox_head.type=RetinaHaed', check=False)
    assert proc.returncode == 2
    assert "'RetinaHead'" in proc.stderr and 'model.bbox_head.type' in \
        proc.stderr
    proc = tool(tmp_path, ROOT / 'tools/test.py', RETINANET, 'nope.pth',
                check=False)
    assert proc.returncode == 2 and 'checkpoint nope.pth' in proc.stderr
    (tmp_path / 'empty.pth').touch()
    proc = tool(tmp_path, ROOT / 'tools/test.py', RETINANET, 'empty.pth',
                '--tta', check=False)
    assert proc.returncode == 2 and '--tta needs tta_model' in proc.stderr
    proc = tool(tmp_path, ROOT / 'tools/train.py', RETINANET, '--amp',
                check=False)
    assert proc.returncode == 2 and '--amp needs a CUDA GPU' in proc.stderr


def test_checkpoint_with_foreign_object_is_refused(tmp_path,
                                                   exploit_checkpoint):
    _, marker = exploit_checkpoint
    make_data(tmp_path, 'coco', 2, 1)
    proc = tool(tmp_path, ROOT / 'tools/test.py', RETINANET, 'evil.pth',
                check=False)
    assert proc.returncode == 2
    assert 'checkpoint evil.pth refused' in proc.stderr
    assert not marker.exists()
