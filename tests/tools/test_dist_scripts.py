"""tools/dist_train.sh, dist_test.sh, slurm_train.sh and slurm_test.sh:
the exact torchrun / srun command line of each node of a 2-node job
(a stand-in ``python`` / ``srun`` records it), their argument errors, and a
real 2-"node" run on localhost (one process per node, gloo)."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / 'tests/distributed'))
from ddp_harness import finish, free_port, launch_env, start  # noqa: E402

RECORDER = '''#!/usr/bin/env bash
printf '%s\\0' "$@" > "$CAPTURE"
printf '%s' "${MASTER_PORT:-unset}" > "$CAPTURE.port"
'''
LAUNCH_VARS = ('NNODES', 'NODE_RANK', 'MASTER_ADDR', 'MASTER_PORT', 'PORT',
               'GPUS', 'GPUS_PER_NODE', 'CPUS_PER_TASK', 'SRUN_ARGS')


@pytest.fixture
def recorder(tmp_path):
    """``run(script, *args, **env)`` -> (returncode, argv the stand-in got,
    its MASTER_PORT, stderr); the stand-in is both ``$PYTHON`` and
    ``srun`` on ``PATH``."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    for name in ('python', 'srun'):
        (bin_dir / name).write_text(RECORDER)
        (bin_dir / name).chmod(0o755)
    capture = tmp_path / 'argv'

    def run(script, *args, **env):
        base = {k: v for k, v in os.environ.items() if k not in LAUNCH_VARS}
        base.update(PATH=f'{bin_dir}{os.pathsep}{os.environ["PATH"]}',
                    PYTHON=str(bin_dir / 'python'), CAPTURE=str(capture))
        capture.unlink(missing_ok=True)
        proc = subprocess.run(['bash', str(ROOT / 'tools' / script), *args],
                              env=dict(base, **env), capture_output=True,
                              text=True, cwd=tmp_path)
        if not capture.exists():
            return proc.returncode, None, None, proc.stderr
        argv = capture.read_text().split('\0')[:-1]
        return (proc.returncode, argv,
                Path(f'{capture}.port').read_text(), proc.stderr)
    return run


def torchrun(nnodes, node_rank, addr, port, nproc, tool, *args):
    return ['-m', 'torch.distributed.run', f'--nnodes={nnodes}',
            f'--node_rank={node_rank}', f'--master_addr={addr}',
            f'--master_port={port}', f'--nproc_per_node={nproc}',
            str(ROOT / 'tools' / tool), *args, '--launcher', 'pytorch']


@pytest.mark.parametrize('node', [0, 1])
def test_dist_train_and_test_on_two_nodes(recorder, node):
    two = dict(NNODES='2', NODE_RANK=str(node), MASTER_ADDR='10.1.2.3',
               PORT='29512')
    rc, argv, _, err = recorder('dist_train.sh', 'cfg.py', '8',
                                '--work-dir', 'w d', '--amp', **two)
    assert rc == 0, err
    assert argv == torchrun(2, node, '10.1.2.3', 29512, 8, 'train.py',
                            'cfg.py', '--work-dir', 'w d', '--amp')
    rc, argv, _, err = recorder('dist_test.sh', 'cfg.py', 'e.pth', '4',
                                '--out', 'p.pkl', **two)
    assert rc == 0, err
    assert argv == torchrun(2, node, '10.1.2.3', 29512, 4, 'test.py',
                            'cfg.py', 'e.pth', '--out', 'p.pkl')


def test_dist_launch_defaults_and_master_port(recorder):
    rc, argv, _, _ = recorder('dist_train.sh', 'cfg.py', '2')
    assert rc == 0
    assert argv == torchrun(1, 0, '127.0.0.1', 29500, 2, 'train.py',
                            'cfg.py')
    # MASTER_PORT (as set by many schedulers) when PORT is unset; PORT wins
    _, argv, _, _ = recorder('dist_train.sh', 'cfg.py', '2',
                             MASTER_PORT='29601')
    assert '--master_port=29601' in argv
    _, argv, _, _ = recorder('dist_train.sh', 'cfg.py', '2',
                             MASTER_PORT='29601', PORT='29602')
    assert '--master_port=29602' in argv
    # the loss search goes through the same launcher
    rc, argv, _, _ = recorder('misc/dist_launch.sh', 'search_loss.py', '2',
                              'search.py', '--work-dir', 'w')
    assert rc == 0
    assert argv == torchrun(1, 0, '127.0.0.1', 29500, 2, 'search_loss.py',
                            'search.py', '--work-dir', 'w')


@pytest.mark.parametrize('args, env, message', [
    (['cfg.py'], {}, 'usage: .*dist_train.sh CONFIG GPUS'),
    (['cfg.py', 'eight'], {}, "GPUS must be a non-negative integer, got "
     "'eight'"),
    (['cfg.py', '0'], {}, 'GPUS .* must be >= 1, got 0'),
    (['cfg.py', '8'], dict(NNODES='2', NODE_RANK='1'),
     'NNODES=2 needs MASTER_ADDR: the address of node 0'),
    (['cfg.py', '8'], dict(NNODES='2', NODE_RANK='2', MASTER_ADDR='h'),
     r'NODE_RANK must be in \[0, NNODES - 1\] = \[0, 1\], got 2'),
    (['cfg.py', '8'], dict(PORT='http'), "PORT must be a non-negative "
     "integer, got 'http'"),
])
def test_dist_train_refuses_bad_arguments(recorder, args, env, message):
    import re
    rc, argv, _, err = recorder('dist_train.sh', *args, **env)
    assert rc == 2 and argv is None
    assert re.search(message, err), err


def test_dist_test_needs_checkpoint_and_gpus(recorder):
    rc, argv, _, err = recorder('dist_test.sh', 'cfg.py', '8')
    assert rc == 2 and argv is None
    assert 'usage: ' in err and 'CONFIG CHECKPOINT GPUS' in err


def test_slurm_train_and_test_on_two_nodes(recorder):
    env = dict(GPUS='16', GPUS_PER_NODE='8', CPUS_PER_TASK='4',
               SRUN_ARGS='--quotatype=auto --exclusive', PORT='29613')
    srun = ['-p', 'gpu', '--job-name=job', '--gres=gpu:8', '--ntasks=16',
            '--ntasks-per-node=8', '--cpus-per-task=4', '--kill-on-bad-exit=1',
            '--quotatype=auto', '--exclusive']
    rc, argv, port, err = recorder('slurm_train.sh', 'gpu', 'job', 'cfg.py',
                                   'w d', '--amp', **env)
    assert rc == 0, err
    assert argv[:len(srun)] == srun and argv[len(srun)].endswith('python')
    assert argv[len(srun) + 1:] == ['-u', str(ROOT / 'tools/train.py'),
                                    'cfg.py', '--work-dir=w d', '--amp',
                                    '--launcher=slurm']
    assert port == '29613'  # mmengine's slurm init reads MASTER_PORT
    rc, argv, port, err = recorder('slurm_test.sh', 'gpu', 'job', 'cfg.py',
                                   'e.pth', '--out', 'p.pkl', **env)
    assert rc == 0, err
    assert argv[:len(srun)] == srun
    assert argv[len(srun) + 1:] == ['-u', str(ROOT / 'tools/test.py'),
                                    'cfg.py', 'e.pth', '--out', 'p.pkl',
                                    '--launcher=slurm']
    # without PORT the job inherits MASTER_PORT (or mmengine's 29500)
    env.pop('PORT')
    _, _, port, _ = recorder('slurm_train.sh', 'gpu', 'job', 'cfg.py', 'w',
                             **env)
    assert port == 'unset'
    rc, argv, _, err = recorder('slurm_train.sh', 'gpu', 'job', 'cfg.py')
    assert rc == 2 and argv is None
    assert 'PARTITION JOB_NAME CONFIG WORK_DIR' in err


LINEAR = ROOT / 'configs/ssl_eval' / (
    'resnet18-tiny_fair-pre_1xb32-linear-100it_synthetic-imagenet.py')
HOOK = """
import json, os
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class RecordNodeHook(Hook):
    \"\"\"Append this process's launcher variables, images and loss.\"\"\"

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        env = {k: os.environ.get(k) for k in (
            'RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'GROUP_RANK')}
        paths = [s.metainfo['img_path'].rsplit('/', 1)[-1]
                 for s in data_batch['data_samples']]
        with open(f"{runner.work_dir}/node_rank{env['RANK']}.jsonl",
                  'a') as f:
            f.write(json.dumps(dict(iter=runner.iter + 1, paths=paths,
                                    loss=float(outputs['loss']), **env))
                    + '\\n')
"""


def test_two_nodes_on_localhost_form_one_job(tmp_path, imagenet_root):
    """NNODES=2 with NODE_RANK 0 and 1, one process each, rendezvous at
    127.0.0.1:PORT: one job of world size 2 whose ranks split the batches."""
    (tmp_path / 'record_node.py').write_text(HOOK)
    config = tmp_path / 'two_nodes.py'
    config.write_text(textwrap.dedent(f"""\
        _base_ = [{str(LINEAR)!r}]
        custom_imports = dict(imports=['projects.ssl_eval', 'record_node'],
                              allow_failed_imports=False)
        data_root = {str(imagenet_root)!r}
        model = dict(backbone=dict(init_cfg=None))
        train_dataloader = dict(
            batch_size=2, num_workers=0, persistent_workers=False,
            dataset=dict(data_root=data_root,
                         pipeline={{{{_base_.test_pipeline}}}}))
        val_dataloader = None
        val_cfg = None
        val_evaluator = None
        test_dataloader = None
        test_cfg = None
        test_evaluator = None
        param_scheduler = []
        train_cfg = dict(max_iters=2, val_interval=3)
        default_hooks = dict(checkpoint=dict(interval=2, max_keep_ckpts=1))
        custom_hooks = [dict(type='RecordNodeHook')]
        """))
    port = str(free_port())
    nodes = [start(['bash', str(ROOT / 'tools/dist_train.sh'), str(config),
                    '1', '--work-dir', 'job'], tmp_path,
                   launch_env(tmp_path, NNODES='2', NODE_RANK=str(rank),
                              MASTER_ADDR='127.0.0.1', PORT=port))
             for rank in (0, 1)]
    for rank, proc in enumerate(nodes):
        finish(proc, f'node {rank}')
    rows = {rank: [json.loads(line) for line in (
        tmp_path / f'job/node_rank{rank}.jsonl').read_text().splitlines()]
        for rank in (0, 1)}
    for rank in (0, 1):
        assert [r['iter'] for r in rows[rank]] == [1, 2]
        for r in rows[rank]:
            assert (r['RANK'], r['WORLD_SIZE'], r['LOCAL_RANK'],
                    r['GROUP_RANK']) == (str(rank), '2', '0', str(rank))
            assert len(r['paths']) == 2 and r['loss'] == r['loss']
    for it in range(2):  # the two nodes see different images
        assert not set(rows[0][it]['paths']) & set(rows[1][it]['paths'])
    ckpt = torch.load(tmp_path / 'job/iter_2.pth', map_location='cpu',
                      weights_only=False)
    assert ckpt['meta']['iter'] == 2
