"""Proxy evaluation: train a short model with the sampled loss parameters
and reward it with a metric of the held-out split.

Each proxy run is a child process (``python projects/loss_search/proxy.py
CONFIG RESULT METRIC``, run as a script so that only what the config
imports is loaded): a crash, NaN loss or out-of-memory of one sample is
recorded as a failed sample and never takes the search down. The slots of a
round run in parallel, one per GPU (``CUDA_VISIBLE_DEVICES``) or as CPU
processes with ``threads`` threads each.
"""
import os.path as osp
import sys

if __name__ == '__main__' and sys.path and osp.abspath(sys.path[0]) == \
        osp.dirname(osp.abspath(__file__)):
    # run as a script: this folder's modules must not shadow top-level ones
    sys.path[0] = osp.dirname(osp.dirname(sys.path[0]))

import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from concurrent.futures import ThreadPoolExecutor, as_completed  # noqa: E402

from mmengine.config import ConfigDict  # noqa: E402

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# the launcher's variables: a proxy run trains alone on its device
DIST_ENV = ('RANK', 'LOCAL_RANK', 'WORLD_SIZE', 'LOCAL_WORLD_SIZE',
            'GROUP_RANK', 'MASTER_ADDR', 'MASTER_PORT', 'TORCHELASTIC_RUN_ID',
            'SLURM_PROCID', 'SLURM_NTASKS', 'SLURM_LOCALID')


def proxy_config(cfg, work_dir):
    """The proxy training config: validation only at the end (by the
    worker), no checkpoints, the NaN guard on, a quiet log."""
    cfg.work_dir = work_dir
    cfg.launcher = 'none'
    cfg.pop('loss_search', None)
    tc = cfg.train_cfg
    if tc.get('type', '') in ('EpochBasedTrainLoop', ) or 'max_epochs' in tc:
        tc['val_interval'] = int(tc.get('max_epochs', 1)) + 1
    else:
        tc['val_interval'] = int(tc.get('max_iters', 1)) + 1
    hooks = cfg.setdefault('default_hooks', ConfigDict())
    hooks['checkpoint'] = ConfigDict(type='CheckpointHook', interval=-1,
                                     save_last=False)
    hooks.pop('visualization', None)
    custom = [h for h in (cfg.get('custom_hooks') or [])
              if h.get('type') != 'FiniteLossHook']
    cfg.custom_hooks = custom + [ConfigDict(type='FiniteLossHook')]
    cfg.test_dataloader = cfg.test_evaluator = cfg.test_cfg = None
    return cfg


def run_proxy(config_path, metric):
    """Train and validate one proxy config in this process; return the
    metrics dict (``metric`` must be among them)."""
    import uuid

    from projects.run_config import build_runner, load_config
    cfg = load_config(config_path, work_dir=osp.dirname(config_path))
    object.__setattr__(cfg, '_format_python_code', False)
    if cfg.get('visualizer') is not None:
        cfg.visualizer.name = f'visualizer_{uuid.uuid4().hex}'
    if cfg.get('experiment_name') is None:  # own MessageHub in one process
        cfg.experiment_name = f'proxy_{uuid.uuid4().hex[:8]}'
    runner = build_runner(cfg)
    runner.train()
    metrics = runner.val_loop.run()
    metrics = {k: float(v) for k, v in metrics.items()
               if isinstance(v, (int, float))}
    if metric not in metrics:
        raise KeyError(f'reward metric {metric!r} is not among the proxy '
                       f'metrics {sorted(metrics)}')
    return metrics


def main(argv=None):
    """Child entry: ``CONFIG RESULT_JSON METRIC``; writes the result."""
    config, result, metric = (argv or sys.argv[1:])[:3]
    start = time.time()
    try:
        metrics = run_proxy(config, metric)
        out = dict(reward=metrics[metric], metrics=metrics, error=None)
    except Exception as err:  # recorded as a failed sample
        out = dict(reward=None, metrics={}, error=f'{type(err).__name__}: '
                   f'{err}', traceback=traceback.format_exc()[-4000:])
    out['proxy_time'] = time.time() - start
    tmp = result + '.tmp'
    with open(tmp, 'w', encoding='utf-8') as f:
        json.dump(out, f)
    os.replace(tmp, result)
    return 0 if out['error'] is None else 1


class TrainProxy:
    """Evaluate samples by real mmengine training in child processes.

    Args:
        metric (str): the reward, a key of the validation metrics (e.g.
            ``'coco/bbox_mAP'``, ``'mIoU'``, ``'BIoU'``).
        workers (int | 'auto'): parallel proxy runs on this machine; 'auto':
            one per visible GPU (one per process under torch.distributed),
            else 1.
        threads (int): torch/OMP threads of a CPU proxy run.
        timeout (float, optional): seconds before a run counts as failed.
        in_process (bool): run in this process, one after another (for
            debugging; a crash then ends the search).
    """

    needs_config = True

    def __init__(self, metric, workers='auto', threads=1, timeout=None,
                 in_process=False):
        if not isinstance(metric, str) or not metric:
            raise ValueError(f'loss_search.reward.metric must name the '
                             f'validation metric to maximise (e.g. '
                             f"'coco/bbox_mAP', 'mIoU'), got {metric!r}")
        self.metric = metric
        self.workers = workers
        self.threads = int(threads)
        self.timeout = timeout
        self.in_process = in_process
        self.gpus = []

    def setup(self, local_rank=None):
        """Decide the slots: GPUs (``local_rank``'s under distributed) or
        CPU processes."""
        import torch
        count = torch.cuda.device_count()
        if count:
            self.gpus = [local_rank % count] if local_rank is not None \
                else list(range(count))
        workers = self.workers
        if workers == 'auto':
            workers = len(self.gpus) or 1
        self.num_slots = max(1, int(workers))
        return self.num_slots

    def _env(self, slot):
        env = {k: v for k, v in os.environ.items() if k not in DIST_ENV}
        env['PYTHONPATH'] = REPO_ROOT + os.pathsep + env.get('PYTHONPATH', '')
        if self.gpus:
            env['CUDA_VISIBLE_DEVICES'] = str(self.gpus[slot % len(self.gpus)])
        else:
            env['CUDA_VISIBLE_DEVICES'] = ''
            env['OMP_NUM_THREADS'] = env['MKL_NUM_THREADS'] = \
                str(self.threads)
        return env

    def _run_one(self, job, slot):
        start = time.time()
        out = self._run(job, slot)
        out.setdefault('time', time.time() - start)
        return out

    def _run(self, job, slot):
        config, result = job['config'], job['result']
        if osp.exists(result):
            os.remove(result)
        if self.in_process:
            try:
                metrics = run_proxy(config, self.metric)
                return dict(reward=metrics[self.metric], metrics=metrics,
                            error=None)
            except Exception as err:
                return dict(reward=None, metrics={},
                            error=f'{type(err).__name__}: {err}')
        log = osp.join(osp.dirname(result), 'proxy.log')
        with open(log, 'w', encoding='utf-8') as f:
            try:
                proc = subprocess.run(
                    [sys.executable, osp.abspath(__file__),
                     config, result, self.metric], cwd=os.getcwd(),
                    env=self._env(slot), stdout=f, stderr=subprocess.STDOUT,
                    timeout=self.timeout)
                rc = proc.returncode
            except subprocess.TimeoutExpired:
                return dict(reward=None, metrics={}, error=f'proxy run '
                            f'exceeded the timeout of {self.timeout} s')
        if osp.exists(result):
            with open(result, encoding='utf-8') as f:
                return json.load(f)
        with open(log, encoding='utf-8', errors='replace') as f:
            tail = f.read()[-2000:]
        return dict(reward=None, metrics={}, error=f'proxy process exited '
                    f'with status {rc} without a result; log tail:\n{tail}')

    def run(self, jobs):
        """Yield ``(job, outcome)`` as the runs finish."""
        if self.in_process or self.num_slots == 1:
            for job in jobs:
                yield job, self._run_one(job, 0)
            return
        with ThreadPoolExecutor(self.num_slots) as pool:
            futures = {pool.submit(self._run_one, job, k % self.num_slots): job
                       for k, job in enumerate(jobs)}
            for fut in as_completed(futures):
                yield futures[fut], fut.result()


class SyntheticReward:
    """A reward with a known optimum, computed in the search process (for
    tests and for trying search settings without training):
    ``exp(-||theta - optimum||^2 / (2 width^2 d))``.
    """

    needs_config = False

    def __init__(self, optimum, width=0.3, metric='synthetic'):
        self.optimum = [float(v) for v in optimum]
        self.width = float(width)
        self.metric = metric

    def setup(self, local_rank=None):
        self.num_slots = 1
        return 1

    def reward(self, theta):
        d = len(self.optimum)
        if len(theta) != d:
            raise ValueError(f'SyntheticReward optimum has {d} numbers, '
                             f'theta {len(theta)}')
        sq = sum((a - b) ** 2 for a, b in zip(theta, self.optimum))
        return math.exp(-sq / (2 * self.width ** 2 * d))

    def run(self, jobs):
        for job in jobs:
            try:
                r = self.reward(job['theta'])
                yield job, dict(reward=r, metrics={self.metric: r},
                                error=None)
            except Exception as err:
                yield job, dict(reward=None, metrics={},
                                error=f'{type(err).__name__}: {err}')


EVALUATORS = dict(TrainProxy=TrainProxy, SyntheticReward=SyntheticReward)

if __name__ == '__main__':
    sys.exit(main())
