"""End-to-end demo on the embedded synthetic data (``make demo``).

For each task: generate the synthetic dataset, train the tiny zoo config with
tools/train.py, evaluate the trained and the untrained model with
tools/test.py, and print the metrics side by side.
"""
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TASKS = (
    dict(kind='coco', data='data/synthetic_coco', metric='coco/bbox_mAP',
         config='configs/retinanet/'
         'retinanet_r18_fpn_tiny_1xb4-300it_synthetic-coco.py'),
    dict(kind='ade20k', data='data/synthetic_ade20k', metric='mIoU',
         config='configs/upernet/upernet_r18_tiny_1xb4-200it_synthetic-ade20k.py'),
)
NUM_TRAIN, NUM_VAL = 400, 100


def run(*args):
    """Run a tool with this interpreter from the repository root."""
    cmd = [sys.executable, *map(str, args)]
    print('+', ' '.join(cmd), flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True)


def latest_metrics(work_dir):
    files = sorted(Path(ROOT, work_dir).glob('*/metrics.json'),
                   key=lambda p: p.stat().st_mtime)
    if not files:
        raise FileNotFoundError(f'no metrics.json under {work_dir}')
    return json.loads(files[-1].read_text())


def demo_task(task):
    stem = Path(task['config']).stem
    work_dir = Path('work_dirs/demo') / stem
    run('tools/dataset_converters/make_synthetic.py', task['kind'], '--out',
        task['data'], '--num-train', NUM_TRAIN, '--num-val', NUM_VAL)
    start = time.time()
    run('tools/train.py', task['config'], '--work-dir', work_dir)
    train_s = time.time() - start
    checkpoint = Path(ROOT, work_dir, 'last_checkpoint').read_text().strip()
    run('tools/test.py', task['config'], checkpoint, '--work-dir',
        work_dir / 'test_trained')
    untrained = work_dir / 'untrained.pth'
    run('tools/misc/init_checkpoint.py', task['config'], untrained)
    run('tools/test.py', task['config'], untrained, '--work-dir',
        work_dir / 'test_untrained')
    return dict(config=stem, metric=task['metric'], train_s=train_s,
                trained=latest_metrics(work_dir / 'test_trained')[task['metric']],
                untrained=latest_metrics(work_dir / 'test_untrained')[
                    task['metric']])


def main():
    rows = [demo_task(task) for task in TASKS]
    print('\n| config | metric | untrained | trained | train time |')
    print('|---|---|---|---|---|')
    for r in rows:
        print(f"| {r['config']} | {r['metric']} | {r['untrained']:.4f} | "
              f"{r['trained']:.4f} | {r['train_s']:.0f} s |")


if __name__ == '__main__':
    main()
