"""The search with real proxy trainings (the tiny UPerNet of
configs/loss_search/upernet_r18-w8_asl-gacc-search-flat-start_*, on a
generated synthetic ADE20K): the reward separates a nearly flat surrogate
from steeper ones and one PPO round moves the policy towards the better
samples; a search killed mid-round resumes without re-running a finished
proxy and continues the same trajectory; a proxy whose loss turns NaN is a
failed sample with reward 0 and the error."""
import json
from pathlib import Path

import pytest
import torch

from projects.loss_search import LossSearch, Policy, TrainProxy
from projects.run_config import load_config

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / ('configs/loss_search/upernet_r18-w8_asl-gacc-search-flat-'
                 'start_tiny_1xb4-10it_synthetic-ade20k-32x32.py')


@pytest.fixture(scope='module')
def ade64(tmp_path_factory):
    from projects.synthetic_data import generate_ade20k
    return generate_ade20k(tmp_path_factory.mktemp('ade64'), 24, 0,
                           size=(64, 64), seed=1)


def search_config(data_root, samples=3, in_process=True):
    cfg = load_config(str(CONFIG), dict(
        train_dataloader=dict(dataset=dict(data_root=str(data_root))),
        val_dataloader=dict(dataset=dict(data_root=str(data_root)))))
    cfg.loss_search.reward.held_out = dict(num=8, seed=0)
    cfg.loss_search.num_rounds = 1
    cfg.loss_search.samples_per_round = samples
    cfg.loss_search.evaluator = dict(type='TrainProxy', in_process=in_process,
                                     timeout=600)
    return cfg


def slope_at_zero(theta):
    """h'(0) of a gAcc function: y / x of its first control point."""
    return theta[1] / theta[0]


class Killed(KeyboardInterrupt):
    pass


class Counting(TrainProxy):
    """A real proxy that records which samples it trains and dies (like a
    SIGINT) when it is about to start its ``kill_at``-th run."""

    def __init__(self, kill_at=None, **kwargs):
        super().__init__('aAcc', in_process=True, **kwargs)
        self.kill_at = kill_at
        self.ran = []

    def run(self, jobs):
        for job in jobs:
            if len(self.ran) == self.kill_at:
                raise Killed()
            self.ran.append(job['index'])
            yield from super().run([job])


def test_real_round_prefers_steeper_surrogate_and_resumes(ade64, tmp_path):
    work = tmp_path / 'search'
    first = LossSearch(search_config(ade64), work, plots=False)
    init = first.policy.mean.clone()
    thetas = first.round_thetas(0)
    first.evaluator = Counting(kill_at=1)
    with pytest.raises(Killed):
        first.run()
    done = json.loads((work / 'history.json').read_text())['samples']
    assert [(r['round'], r['index']) for r in done] == [(0, 0)]
    assert not (work / 'state.json').exists()

    resumed = LossSearch(search_config(ade64), work, plots=False)
    resumed.evaluator = Counting()
    state = resumed.run(resume=True)
    assert resumed.evaluator.ran == [1, 2]  # the finished proxy is kept
    rows = sorted(resumed.history, key=lambda r: r['index'])
    assert rows[0] == done[0]
    assert [r['theta'] for r in rows] == thetas.tolist()
    assert all(r['status'] == 'ok' for r in rows)

    # sample 0 is the nearly flat mean: it barely trains; both random
    # samples are steeper at small probabilities and score clearly higher
    rewards = [r['reward'] for r in rows]
    assert rewards[0] < 1.0, rewards
    for theta, reward in zip(thetas[1:].tolist(), rewards[1:]):
        assert slope_at_zero(theta) > 5 * slope_at_zero(init.tolist())
        assert reward > rewards[0] + 1.0, rewards
    assert max(rewards) > rewards[0] + 10.0, rewards
    # the update is the policy's update of exactly this round, and it
    # moves the mean towards the best sample
    settings = dict(first.sc['policy'])
    policy = Policy(settings.pop('init_mean'), num_rounds=1, **settings)
    policy.update(thetas, rewards, 0)
    assert state['policy'] == policy.state_dict()
    mean = torch.tensor(state['policy']['mean'], dtype=torch.float64)
    best = thetas[max(range(3), key=rewards.__getitem__)]
    assert (mean - best).norm() < (init - best).norm() - 0.01
    assert slope_at_zero(mean.tolist()) > slope_at_zero(init.tolist())

    # the proxy is deterministic: the rewards a resumed search records are
    # those an uninterrupted one would
    k = max(range(3), key=rewards.__getitem__)
    proxy = TrainProxy('aAcc', in_process=True)
    proxy.setup()
    folder = work / 'samples' / 'round_000' / f'sample_{k:03d}'
    (_, again), = proxy.run([dict(config=str(folder / 'config.py'),
                                  result=str(tmp_path / 'again.json'))])
    assert again['reward'] == rewards[k]


def test_real_proxy_with_nan_loss_is_failed_sample(ade64, tmp_path):
    """The default child-process proxy: inputs divided by a zero std make
    the loss NaN at the first iteration; the child reports the error."""
    search = LossSearch(search_config(ade64, in_process=False), tmp_path,
                        plots=False)
    search.evaluator.setup()
    search.prepare()
    search.proxy_base.model.data_preprocessor.std = [0.0, 0.0, 0.0]
    job = search._job(0, 0, search.policy.mean)
    (job, outcome), = search.evaluator.run([job])
    record = search._record(job, outcome)
    assert record['status'] == 'failed' and record['reward'] == 0.0
    assert record['error'].startswith('NonFiniteLossError'), record['error']
    assert 'loss' in record['error']
    assert 'Traceback' in outcome['traceback']
