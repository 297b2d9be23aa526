"""The search loop: improvement on a reward with a known optimum, exact
resume after a kill mid-round, failed samples, bad search configs."""
import json
import math
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from projects.loss_search import LossSearch, SyntheticReward, TrainProxy

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / 'tools'))
OPTIMUM = [0.8, 0.15, 0.6, 0.4, 0.2, 0.9]  # a theta of the 6-dim mAcc space
ASL_POLICY = dict(sigma=0.2, clip_mode='per_dimension', clip_eps=0.2,
                  lr=0.2, update_steps=60, baseline='mu')
PAP_POLICY = dict(sigma=0.2, sigma_schedule='linear',
                  clip_mode='sum_clipped_log_ratio', clip_eps=0.1, lr=0.05,
                  update_steps=100, lr_schedule='warmup_linear',
                  keep_optimizer_state=False)


def search_cfg(policy, rounds=5, samples=8, optimum=OPTIMUM, seed=0):
    return Config(dict(loss_search=dict(
        space=dict(type='AutoSegLossSpace', target_metric='mAcc'),
        evaluator=dict(type='SyntheticReward', optimum=optimum, width=0.3),
        reward=dict(metric='synthetic'), num_rounds=rounds,
        samples_per_round=samples, seed=seed, policy=policy)))


def round_means(history):
    rounds = {}
    for r in history:
        rounds.setdefault(r['round'], []).append(r['reward'])
    return [sum(v) / len(v) for _, v in sorted(rounds.items())]


@pytest.mark.parametrize('policy', [ASL_POLICY, PAP_POLICY],
                         ids=['asl', 'pap'])
def test_search_improves_on_known_optimum(policy, tmp_path):
    search = LossSearch(search_cfg(policy), tmp_path, plots='final')
    state = search.run()
    means = round_means(search.history)
    assert means[-1] > means[0] + 0.05, means
    opt = torch.tensor(OPTIMUM, dtype=torch.float64)
    init = torch.tensor(search.space.init_mean, dtype=torch.float64)
    mean = torch.tensor(state['policy']['mean'])
    assert (mean - opt).norm() < (init - opt).norm() - 0.05
    # outputs: history, state, parameter files that AutoSegLoss loads,
    # plots
    doc = json.loads((tmp_path / 'history.json').read_text())
    assert len(doc['samples']) == 5 * 8 and doc['metric'] == 'synthetic'
    assert set(doc['samples'][0]) >= {'theta', 'params', 'reward', 'time',
                                      'status', 'error'}
    from projects.auto_seg_loss import AutoSegLoss
    loss = AutoSegLoss(target_metric='mAcc',
                       params_file=str(tmp_path / 'result/macc.json'))
    assert loss.functions[0].points == pytest.approx(
        search.space.decode(mean)['functions']['h']['ctrl_points'])
    for png in ('reward_history.png', 'best_curves.png'):
        assert (tmp_path / png).read_bytes()[:4] == b'\x89PNG'


class Killed(KeyboardInterrupt):
    pass


class KillAfter(SyntheticReward):
    """Dies (like a SIGINT) when it starts its ``n``-th evaluation."""

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        self.left = n

    def run(self, jobs):
        for job in jobs:
            if self.left == 0:
                raise Killed()
            self.left -= 1
            yield from super().run([job])


def test_resume_after_kill_mid_round_reproduces_trajectory(tmp_path):
    full = LossSearch(search_cfg(ASL_POLICY, rounds=3, samples=6), tmp_path /
                      'full', plots=False)
    full.run()
    work = tmp_path / 'killed'
    for kill_at in (8, 3):  # round 1 sample 2, then round 1 sample 5
        s = LossSearch(search_cfg(ASL_POLICY, rounds=3, samples=6), work,
                       plots=False)
        s.evaluator = KillAfter(kill_at, optimum=OPTIMUM, width=0.3)
        with pytest.raises(Killed):
            s.run(resume=kill_at != 8)
    state = json.loads((work / 'state.json').read_text())
    assert state['round'] == 1  # killed inside round 1, twice
    assert len(json.loads((work / 'history.json').read_text())['samples']) \
        == 6 + 2 + 3
    with pytest.raises(FileExistsError, match='--resume'):
        LossSearch(search_cfg(ASL_POLICY, rounds=3, samples=6), work).run()
    resumed = LossSearch(search_cfg(ASL_POLICY, rounds=3, samples=6), work,
                         plots=False)
    resumed.run(resume=True)
    a = json.loads((tmp_path / 'full/history.json').read_text())['samples']
    b = json.loads((work / 'history.json').read_text())['samples']
    assert [(r['round'], r['index'], r['theta'], r['reward']) for r in a] == \
        [(r['round'], r['index'], r['theta'], r['reward']) for r in b]
    sa = json.loads((tmp_path / 'full/state.json').read_text())
    sb = json.loads((work / 'state.json').read_text())
    assert sa['policy'] == sb['policy']  # bitwise the same mean and Adam
    # a different seed is a different search: refused
    with pytest.raises(ValueError, match='different search'):
        LossSearch(search_cfg(ASL_POLICY, rounds=3, samples=6, seed=1),
                   work).run(resume=True)


class Flaky(SyntheticReward):
    """Sample 1 of a round gives NaN, sample 2 crashes."""

    def run(self, jobs):
        for job in jobs:
            if job['index'] == 1:
                yield job, dict(reward=math.nan, metrics={}, error=None)
            elif job['index'] == 2:
                yield job, dict(reward=None, metrics={}, error='RuntimeError:'
                                ' CUDA out of memory (simulated)')
            else:
                yield from super().run([job])


def test_failed_samples_are_recorded_and_search_goes_on(tmp_path):
    s = LossSearch(search_cfg(ASL_POLICY, rounds=2, samples=4), tmp_path,
                   plots=False)
    s.evaluator = Flaky(optimum=OPTIMUM)
    state = s.run()
    assert state['round'] == 2
    rows = {(r['round'], r['index']): r for r in s.history}
    assert rows[(0, 1)]['status'] == 'failed' and rows[(0, 1)]['reward'] == 0
    assert 'non-finite reward nan' in rows[(0, 1)]['error']
    assert rows[(1, 2)]['status'] == 'failed' and rows[(1, 2)]['reward'] == 0
    assert 'out of memory' in rows[(1, 2)]['error']
    assert rows[(0, 3)]['status'] == 'ok' and rows[(0, 3)]['reward'] > 0


def test_crashed_proxy_run_is_a_failed_sample(tmp_path):
    """Real proxy runs: one whose config cannot be built (in process), one
    whose child process dies without writing a result."""
    proxy = TrainProxy('coco/bbox_mAP', in_process=True)
    proxy.setup()
    bad = tmp_path / 'bad' / 'config.py'
    bad.parent.mkdir()
    bad.write_text("model = dict(type='NoSuchDetector')\n"
                   "train_dataloader = dict()\n")
    (job, outcome), = proxy.run([dict(config=str(bad), round=0, index=0,
                                      theta=[0.5],
                                      result=str(bad.parent / 'r.json'))])
    assert outcome['reward'] is None and outcome['error']
    dies = tmp_path / 'dies' / 'config.py'
    dies.parent.mkdir()
    dies.write_text('raise SystemExit(3)\n')
    proxy = TrainProxy('coco/bbox_mAP', workers=1, timeout=120)
    proxy.setup()
    (job, outcome), = proxy.run([dict(config=str(dies), round=0, index=0,
                                      theta=[0.5],
                                      result=str(dies.parent / 'r.json'))])
    assert outcome['reward'] is None
    assert 'exited with status 3 without a result' in outcome['error']


def test_config_without_reward_metric_fails_before_any_work(tmp_path,
                                                            capsys):
    import search_loss
    cfg = tmp_path / 'search.py'
    cfg.write_text(
        "loss_search = dict(space=dict(type='AutoSegLossSpace', "
        "target_metric='mIoU'), evaluator=dict(type='TrainProxy'), "
        "reward=dict(split='held_out'), num_rounds=2, samples_per_round=2)\n")
    work = tmp_path / 'work'
    with pytest.raises(SystemExit) as exc:
        search_loss.main([str(cfg), '--work-dir', str(work)])
    assert exc.value.code == 2
    assert 'loss_search.reward.metric is missing' in capsys.readouterr().err
    assert not work.exists()
    with pytest.raises(ValueError, match="did you mean 'PAPSpace'"):
        c = search_cfg(ASL_POLICY)
        c.loss_search.space = dict(type='PapSpace', heads=[])
        LossSearch(c, tmp_path / 'w2')
