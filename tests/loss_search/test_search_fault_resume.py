"""tools/search_loss.py SIGKILLed in the middle of a proxy training (the
search, the proxy process and its dataloader workers: FaultInjectionHook
scope='group') resumes with --resume without re-running a finished proxy
and ends with the samples, rewards and policy of an uninterrupted search."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / ('configs/loss_search/upernet_r18-w8_asl-gacc-search-flat-'
                 'start_tiny_1xb4-10it_synthetic-ade20k-32x32.py')
# what an uninterrupted and a resumed search must agree on
SAMPLE_KEYS = ('round', 'index', 'theta', 'params', 'reward', 'raw_reward',
               'status', 'error', 'metrics')


@pytest.fixture(scope='module')
def ade64(tmp_path_factory):
    from projects.synthetic_data import generate_ade20k
    return generate_ade20k(tmp_path_factory.mktemp('ade64'), 16, 0,
                           size=(64, 64), seed=1)


def write_config(path, data_root, fault=None):
    """2 rounds x 2 proxies of 6 iterations, one after another, with two
    dataloader workers each; ``fault``: (proxy work dir pattern, marker)."""
    data = f'dict(data_root={str(data_root)!r})'
    text = (f'_base_ = [{str(CONFIG)!r}]\n'
            'max_iters = 6\n'
            'train_cfg = dict(max_iters=max_iters, val_interval=max_iters)\n'
            'train_dataloader = dict(num_workers=2, persistent_workers=False,'
            f' dataset={data})\n'
            'val_dataloader = dict(num_workers=2, persistent_workers=False, '
            f'dataset={data})\n'
            'loss_search = dict(num_rounds=2, samples_per_round=2, '
            'reward=dict(held_out=dict(num=8, seed=0)), '
            'evaluator=dict(workers=1))\n')
    if fault:
        text += ("custom_hooks = [dict(type='FaultInjectionHook', "
                 f"point='train', iter=3, scope='group', work_dir="
                 f'{fault[0]!r}, marker={fault[1]!r})]\n')
    path.write_text(text)
    return path


def search(cwd, config, work_dir, *extra):
    return subprocess.run(
        [sys.executable, str(ROOT / 'tools/search_loss.py'), str(config),
         '--work-dir', str(work_dir), *extra], cwd=cwd, capture_output=True,
        text=True, start_new_session=True)  # a group of its own to kill


def samples(work_dir):
    rows = json.loads((work_dir / 'history.json').read_text())['samples']
    return [{k: r[k] for k in SAMPLE_KEYS} for r in rows], rows


def test_killed_search_resumes_to_the_uninterrupted_result(tmp_path, ade64):
    marker = tmp_path / 'fault.marker'
    faulty = write_config(tmp_path / 'faulty.py', ade64,
                          ('*/round_001/sample_001', str(marker)))
    proc = search(tmp_path, faulty, tmp_path / 'faulty')
    assert proc.returncode == -9, proc.stderr[-3000:]
    assert marker.read_text() == 'train 3\n'
    # round 0 finished, round 1 sample 0 recorded, sample 1 lost mid-run
    state = json.loads((tmp_path / 'faulty/state.json').read_text())
    assert state['round'] == 1
    _, before = samples(tmp_path / 'faulty')
    assert [(r['round'], r['index']) for r in before] == [(0, 0), (0, 1),
                                                          (1, 0)]

    proc = search(tmp_path, faulty, tmp_path / 'faulty', '--resume')
    assert proc.returncode == 0, proc.stderr[-3000:]
    resumed, after = samples(tmp_path / 'faulty')
    assert after[:3] == before  # finished proxies kept, not run again
    assert [(r['round'], r['index']) for r in after][3:] == [(1, 1)]
    assert all(r['status'] == 'ok' for r in after), after

    reference = write_config(tmp_path / 'reference.py', ade64)
    proc = search(tmp_path, reference, tmp_path / 'reference')
    assert proc.returncode == 0, proc.stderr[-3000:]
    uninterrupted, _ = samples(tmp_path / 'reference')
    assert resumed == uninterrupted
    assert json.loads((tmp_path / 'faulty/state.json').read_text()) == \
        json.loads((tmp_path / 'reference/state.json').read_text())
    for name in ('result', 'best'):  # parameter files, but their source
        for path in (tmp_path / 'reference' / name).iterdir():
            files = [json.loads(p.read_text()) for p in
                     (path, tmp_path / 'faulty' / name / path.name)]
            assert [f.pop('source') for f in files] == [
                f'loss_search {reference}', f'loss_search {faulty}']
            assert files[0] == files[1], path
