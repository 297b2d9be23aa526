"""Sharded training (FSDP, 2 processes over gloo on CPU, through
tools/dist_train.sh -> torchrun -> tools/train.py -> mmengine's
FlexibleRunner) of the tiny InternImage classifier follows the DDP run.

Four runs of 4 iterations, batch 2 per process, from one initial checkpoint
(``load_from``: mmengine's Runner and FlexibleRunner consume the random
generator differently while building), in sampler order (no shuffle), with
the deterministic test pipeline:

* ``ddp``: ``--strategy ddp`` (FlexibleRunner with DDPStrategy, whose
  checkpoints keep the model's keys; the same run with mmengine's Runner
  gives bit-identical weights);
* ``fsdp``: the config selects ``FSDPStrategy`` (one FSDP unit per
  ``InternImageLayer``), full checkpoints;
* ``sharded``: ``--strategy fsdp`` on the plain config (size-based
  wrapping) with ``strategy.state_dict_cfg=sharded``: one file per rank;
* ``resumed``: ``sharded`` resumed from its iteration-2 checkpoint.

What must hold: DDP averages the ranks' gradients and FSDP reduce-scatters
their average, so all runs follow the same trajectory up to float32
summation order. The optimizer is SGD with momentum and weight decay except
on 1-D parameters (``flat_decay_mult=0``), and the gradient norm is clipped
to 1 (the unclipped norm is 3.7 to 5.2): a weight-decay rule applied to the
flat shards (all 1-D), or a norm of the local shards only, would diverge
from DDP by about ``lr * weight_decay * |w|`` resp. the clip ratio at the
first step. (AdamW is not used: its update ``g / sqrt(v)`` turns the
round-off of the exactly-zero gradient of the last stage's norm bias, which
the head's BatchNorm cancels, into steps of the full learning rate.)
Measured (TOL 1e-5): losses within 2.4e-6 of DDP's (the size-based
sharded run: equal), parameters within 4.8e-7; the resumed run repeats the
sharded one exactly.
"""
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
from ddp_harness import free_port  # noqa: E402
BASE = ROOT / ('configs/internimage/'
               'internimage-nano_tiny_1xb16-200it_synthetic-imagenet.py')
ITERS = 4
TOL = 1e-5
LAYER = 'projects.internimage.internimage.InternImageLayer'


def write_config(tmp_path, data_root, init, fsdp):
    name = 'fsdp.py' if fsdp else 'plain.py'
    strategy = textwrap.dedent(f'''\
        runner_type = 'FlexibleRunner'
        strategy = dict(
            type='FSDPStrategy',
            model_wrapper=dict(auto_wrap_policy=dict(
                type='wrap_module_classes', classes=[{LAYER!r}])),
            state_dict_cfg='full')
        ''') if fsdp else ''
    return train_config(
        tmp_path / name, BASE, 'projects.internimage', data_root, init,
        checkpoint='dict(interval=2, max_keep_ckpts=2)', extra=strategy)


def train_config(path, base, project, data_root, init, checkpoint,
                 extra='', iters=ITERS):
    """Write a train-only config of ``base`` to ``path``: the images of
    ``data_root`` in order, batch 2 per process, SGD with weight decay and
    gradient clipping to 1, ``iters`` iterations logged one by one, no
    validation, weights from ``init``; then the lines of ``extra``."""
    path.write_text(textwrap.dedent(f'''\
        _base_ = [{str(base)!r}]
        custom_imports = dict(imports=[{project!r}, 'projects.run_config'],
                              allow_failed_imports=False)
        train_dataloader = dict(
            batch_size=2, num_workers=0, persistent_workers=False,
            sampler=dict(type='DefaultSampler', shuffle=False),
            dataset=dict(data_root={str(data_root)!r},
                         pipeline={{{{_base_.test_pipeline}}}}))
        val_dataloader = None
        val_cfg = None
        val_evaluator = None
        test_dataloader = None
        test_cfg = None
        test_evaluator = None
        optim_wrapper = dict(
            optimizer=dict(_delete_=True, type='SGD', lr=0.05, momentum=0.9,
                           weight_decay=0.05),
            clip_grad=dict(max_norm=1.0))
        param_scheduler = []
        train_cfg = dict(max_iters={iters}, val_interval={iters + 1})
        default_hooks = dict(logger=dict(interval=1), checkpoint={checkpoint})
        log_processor = dict(by_epoch=False, window_size=1)
        randomness = dict(seed=7)
        load_from = {str(init)!r}
        ''') + extra)
    return path


def initial_checkpoint(path, config):
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope
    cfg = Config.fromfile(config)
    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    torch.save(dict(state_dict=model.state_dict()), path)


def launch(tmp_path, config, work_dir, *args):
    env = dict(os.environ, PYTHON=sys.executable, PORT=str(free_port()),
               OMP_NUM_THREADS='1')
    return subprocess.Popen(
        ['bash', str(ROOT / 'tools/dist_train.sh'), str(config), '2',
         '--work-dir', work_dir, *args], cwd=tmp_path, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(proc):
    try:
        out = proc.communicate(timeout=400)[0]
    except subprocess.TimeoutExpired:
        proc.kill()
        out = proc.communicate()[0]
    assert proc.returncode == 0, out[-4000:]


def losses(work_dir):
    (scalars,) = Path(work_dir).glob('*/vis_data/scalars.json')
    return {r['iter']: r['loss'] for r in map(
        json.loads, scalars.read_text().splitlines()) if 'loss' in r}


def state(path):
    from projects.stack_compat import load_checkpoint_file
    return load_checkpoint_file(str(path), map_location='cpu')['state_dict']


def consolidate(src, dst, *args):
    return subprocess.run(
        [sys.executable, str(ROOT / 'tools/model_converters/'
                             'consolidate_fsdp.py'), str(src), str(dst),
         *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope='module')
def runs(tmp_path_factory, imagenet_root):
    tmp = tmp_path_factory.mktemp('fsdp')
    init = tmp / 'init.pth'
    plain = write_config(tmp, imagenet_root, init, fsdp=False)
    fsdp = write_config(tmp, imagenet_root, init, fsdp=True)
    initial_checkpoint(init, plain)
    procs = [launch(tmp, plain, 'ddp', '--strategy', 'ddp'),
             launch(tmp, fsdp, 'fsdp'),
             launch(tmp, plain, 'sharded', '--strategy', 'fsdp',
                    '--cfg-options', 'strategy.state_dict_cfg=sharded')]
    for proc in procs:
        finish(proc)
    finish(launch(tmp, plain, 'resumed', '--strategy', 'fsdp',
                  '--resume', str(tmp / 'sharded/iter_2.pth'),
                  '--cfg-options', 'strategy.state_dict_cfg=sharded'))
    return tmp, plain


def test_fsdp_losses_and_weights_equal_ddp(runs):
    tmp, _ = runs
    ddp = losses(tmp / 'ddp')
    assert sorted(ddp) == list(range(1, ITERS + 1))
    assert ddp[ITERS] < ddp[1] - 0.1  # it trained
    for work in ('fsdp', 'sharded'):
        other = losses(tmp / work)
        assert sorted(other) == sorted(ddp)
        for it in ddp:
            assert abs(other[it] - ddp[it]) <= TOL, (work, it)
    a, b = state(tmp / f'ddp/iter_{ITERS}.pth'), state(
        tmp / f'fsdp/iter_{ITERS}.pth')
    assert list(a) == list(b)
    moved = max((a[k] - state(tmp / 'init.pth')[k]).abs().max()
                for k in a if a[k].is_floating_point())
    assert moved > 100 * TOL
    for key in a:
        if a[key].is_floating_point():
            assert torch.allclose(a[key], b[key], atol=TOL, rtol=0), key


def test_sharded_checkpoint_consolidates_to_the_full_one(runs):
    tmp, _ = runs
    folder = tmp / f'sharded/iter_{ITERS}.pth'
    assert sorted(p.name for p in folder.iterdir()) == ['rank0.pth',
                                                        'rank1.pth']
    shard = state(folder / 'rank1.pth')  # weights-only, plain tensors
    assert any(isinstance(v, dict) for v in shard.values())
    out = consolidate(folder, tmp / 'merged.pth')
    assert out.returncode == 0, out.stderr
    merged, full = state(tmp / 'merged.pth'), state(
        tmp / f'fsdp/iter_{ITERS}.pth')
    assert list(merged) == list(full)
    for key in full:
        assert merged[key].shape == full[key].shape, key
        if full[key].is_floating_point():
            assert torch.allclose(merged[key], full[key], atol=TOL,
                                  rtol=0), key


def test_resume_from_sharded_checkpoint_continues_the_run(runs):
    tmp, _ = runs
    assert losses(tmp / 'resumed').keys() == {3, 4}
    for it in (3, 4):
        assert abs(losses(tmp / 'resumed')[it] - losses(
            tmp / 'sharded')[it]) <= 1e-6
    for name in ('resumed', 'sharded'):
        out = consolidate(tmp / f'{name}/iter_{ITERS}.pth',
                          tmp / f'{name}.pth')
        assert out.returncode == 0, out.stderr
    a, b = state(tmp / 'resumed.pth'), state(tmp / 'sharded.pth')
    for key in a:
        assert torch.allclose(a[key].float(), b[key].float(), atol=1e-6,
                              rtol=0), key


def test_checkpoints_load_strictly_into_the_plain_model(runs):
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope
    from mmengine.runner import load_checkpoint
    tmp, plain = runs
    out = consolidate(tmp / f'sharded/iter_{ITERS}.pth', tmp / 'checked.pth',
                      '--config', str(plain))
    assert out.returncode == 0, out.stderr
    init_default_scope('mmpretrain')
    for path in (tmp / f'fsdp/iter_{ITERS}.pth', tmp / 'checked.pth'):
        model = MODELS.build(Config.fromfile(plain).model)
        load_checkpoint(model, str(path), strict=True)
        expected = state(path)
        for key, value in model.state_dict().items():
            assert torch.equal(value, expected[key]), key


def test_consolidation_refuses_incomplete_shards(runs, tmp_path):
    tmp, plain = runs
    src = tmp / f'sharded/iter_{ITERS}.pth'
    part = tmp_path / 'part.pth'
    part.mkdir()
    (part / 'rank1.pth').write_bytes((src / 'rank1.pth').read_bytes())
    out = consolidate(part, tmp_path / 'out.pth')
    assert out.returncode == 1
    assert 'misses rank0.pth' in out.stderr
    assert not (tmp_path / 'out.pth').exists()
    mixed = tmp_path / 'mixed.pth'
    mixed.mkdir()
    for rank in (0, 1):
        (mixed / f'rank{rank}.pth').write_bytes(
            (src / 'rank0.pth').read_bytes())
    out = consolidate(mixed, tmp_path / 'out.pth')
    assert out.returncode == 1
    assert 'rank1.pth: meta.fsdp_shard' in out.stderr
    out = consolidate(src / 'rank0.pth', tmp_path / 'out.pth')
    assert out.returncode == 1 and 'one rank of a sharded' in out.stderr
    assert not (tmp_path / 'out.pth').exists()
