"""tools/search_loss.py under torchrun (tools/misc/dist_launch.sh, 2 CPU
processes, gloo) is the single-process search: the same samples, rewards,
state.json and parameter files. Rank r evaluates the pending samples r,
r + 2, ... of each round; rank 0 gathers the records, updates the policy and
writes every file; the ranks then share the new policy."""
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / 'tests/distributed'))
from ddp_harness import finish, free_port, launch_env, start  # noqa: E402

PROXY = ROOT / ('configs/loss_search/upernet_r18-w8_asl-gacc-search-flat-'
                'start_tiny_1xb4-10it_synthetic-ade20k-32x32.py')
# what the two searches must agree on (not: time, finished_at, rank)
SAMPLE_KEYS = ('round', 'index', 'theta', 'params', 'reward', 'raw_reward',
               'status', 'error', 'metrics')


def both_searches(tmp_path, config):
    """Run the 1- and the 2-process search of ``config`` at the same time;
    return their work dirs."""
    env = launch_env(PORT=str(free_port()))
    ddp = start(['bash', str(ROOT / 'tools/misc/dist_launch.sh'),
                 'search_loss.py', '2', str(config), '--work-dir', 'ddp'],
                tmp_path, env)
    single = start([sys.executable, str(ROOT / 'tools/search_loss.py'),
                    str(config), '--work-dir', 'single'], tmp_path, env)
    finish(single, 'the single-process search', 600)
    out = finish(ddp, 'the 2-process search', 600)
    assert out.count('search finished') == 1  # rank 0 reports
    return tmp_path / 'single', tmp_path / 'ddp'


def assert_same_search(single, ddp, rounds, samples):
    rows = {}
    for work in (single, ddp):
        doc = json.loads((work / 'history.json').read_text())
        rows[work] = doc['samples']
    a, b = rows[single], rows[ddp]
    assert [(r['round'], r['index']) for r in a] == [
        (t, i) for t in range(rounds) for i in range(samples)]
    assert [{k: r[k] for k in SAMPLE_KEYS} for r in a] == \
        [{k: r[k] for k in SAMPLE_KEYS} for r in b]
    assert {r['rank'] for r in a} == {0}
    assert [r['rank'] for r in b if r['round'] == 0] == [
        i % 2 for i in range(samples)]
    assert json.loads((single / 'state.json').read_text()) == json.loads(
        (ddp / 'state.json').read_text())
    for name in ('result', 'best'):
        files = sorted(p.name for p in (single / name).iterdir())
        assert files == sorted(p.name for p in (ddp / name).iterdir())
        assert files
        for f in files:
            assert (single / name / f).read_text() == \
                (ddp / name / f).read_text(), f
    return a


def test_distributed_search_equals_single_process_synthetic(tmp_path):
    """3 rounds of 5 samples (3 on rank 0, 2 on rank 1) of the Auto Seg-Loss
    mAcc space against a reward with a known optimum."""
    config = tmp_path / 'search.py'
    config.write_text(
        "loss_search = dict(\n"
        "    space=dict(type='AutoSegLossSpace', target_metric='mAcc'),\n"
        "    evaluator=dict(type='SyntheticReward', optimum=[0.8, 0.15, "
        "0.6, 0.4, 0.2, 0.9], width=0.3),\n"
        "    reward=dict(metric='synthetic'), num_rounds=3,\n"
        "    samples_per_round=5, seed=0,\n"
        "    policy=dict(sigma=0.2, clip_mode='per_dimension', clip_eps=0.2,"
        " lr=0.2, update_steps=60, baseline='mu'))\n")
    single, ddp = both_searches(tmp_path, config)
    rows = assert_same_search(single, ddp, 3, 5)
    assert len({tuple(r['theta']) for r in rows}) == 15
    assert json.loads((ddp / 'state.json').read_text())['round'] == 3


@pytest.fixture(scope='module')
def ade64(tmp_path_factory):
    from projects.synthetic_data import generate_ade20k
    return generate_ade20k(tmp_path_factory.mktemp('ade64'), 12, 0,
                           size=(64, 64), seed=1)


def test_distributed_search_equals_single_process_real_proxy(tmp_path,
                                                             ade64):
    """1 round of 2 real proxy trainings (the tiny UPerNet, 2 iterations,
    reward aAcc on 6 held-out training images): one per rank under
    torchrun, one after the other in the single process. The proxies run
    without the launcher's variables, so they train alone and give the same
    metrics."""
    data = f'dict(data_root={str(ade64)!r})'
    config = tmp_path / 'search.py'
    config.write_text(
        f'_base_ = [{str(PROXY)!r}]\n'
        'max_iters = 2\n'
        'train_cfg = dict(max_iters=max_iters, val_interval=max_iters)\n'
        f'train_dataloader = dict(num_workers=0, persistent_workers=False, '
        f'dataset={data})\n'
        f'val_dataloader = dict(num_workers=0, persistent_workers=False, '
        f'dataset={data})\n'
        'loss_search = dict(num_rounds=1, samples_per_round=2, '
        'reward=dict(held_out=dict(num=6, seed=0)), '
        'evaluator=dict(workers=1))\n')
    single, ddp = both_searches(tmp_path, config)
    rows = assert_same_search(single, ddp, 1, 2)
    assert all(r['status'] == 'ok' for r in rows), rows
    assert all('aAcc' in r['metrics'] for r in rows)
    # the proxies of both ranks trained on the same held-out split
    assert (single / 'split/split.json').read_text() == \
        (ddp / 'split/split.json').read_text()
