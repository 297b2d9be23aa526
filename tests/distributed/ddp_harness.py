"""Launch helpers of the distributed tests, and a DDP-vs-one-process trainer.

As a library: :func:`free_port`, :func:`launch_env` and :func:`start` run
``tools/*.sh`` or ``torchrun`` in subprocesses; :func:`compare` trains the
cases of a JSON file in 2 DDP processes (torchrun, gloo) and in one process
and returns what each recorded.

As a script (``python ddp_harness.py CASES.json OUT_DIR``, under torchrun or
alone) it is the trainer. A case is a zoo config trained for ``steps``
optimiser steps of a global batch of ``batch`` samples of its own train
dataset and pipeline. Every process draws ALL samples with the same seed
(random augmentations are then the same everywhere) and a rank trains on its
contiguous share of each batch: rank r of W takes samples
``[r B/W, (r + 1) B/W)``. Modes:

* ``ddp``: mmengine's ``MMDistributedDataParallel.train_step`` on the share
  (gradients averaged over the ranks);
* ``whole``: one process, ``train_step`` on the whole batch;
* ``halves``: one process that computes the loss of each rank's share
  separately (its own data preprocessing and loss) and steps on their mean:
  what DDP computes when a loss is normalised per process.

Options of a case: ``options`` (``--cfg-options`` dict), ``data_root``,
``seed``, ``freeze`` (module kinds kept in eval mode: ``'bn'`` fixes the
BatchNorm statistics, ``'dropout'`` disables dropout, drop-path and the
attention dropout of ``nn.MultiheadAttention``),
``find_unused_parameters``, ``modes`` (those of the single process).
Recorded per mode: the parsed losses of every step and the final state dict.
"""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port():
    """A TCP port that is free on localhost now."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def launch_env(*paths, **extra):
    """The environment of a launched tool: this interpreter as ``PYTHON``,
    one thread per process, the repository (and ``paths``) importable."""
    return dict(os.environ, PYTHON=sys.executable, OMP_NUM_THREADS='1',
                PYTHONPATH=os.pathsep.join(
                    [str(ROOT), *map(str, paths),
                     os.environ.get('PYTHONPATH', '')]), **extra)


def start(cmd, cwd, env):
    """``cmd`` in the background, stdout and stderr together."""
    return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def finish(proc, what, timeout=300):
    """Wait for ``proc``; its output (``AssertionError`` with its tail if it
    failed)."""
    try:
        out = proc.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        proc.kill()
        out = proc.communicate()[0]
        raise AssertionError(f'{what} timed out after {timeout} s:\n'
                             f'{out[-3000:]}')
    assert proc.returncode == 0, f'{what} failed:\n{out[-3000:]}'
    return out


def compare(cases, tmp_path, timeout=300):
    """Train ``cases`` (a list of dicts, see the module docstring) in 2 DDP
    processes and in one process at the same time; return
    ``(ddp, single)``: ``ddp[r][name]['ddp']`` and ``single[name][mode]``
    hold ``losses`` (one dict per step) and ``state`` (the final state
    dict)."""
    import torch
    spec = tmp_path / 'cases.json'
    spec.write_text(json.dumps(cases))
    out = tmp_path / 'results'
    env = launch_env()
    ddp = start([sys.executable, '-m', 'torch.distributed.run',
                 '--nnodes=1', '--nproc_per_node=2',
                 '--master_addr=127.0.0.1', f'--master_port={free_port()}',
                 __file__, str(spec), str(out)], tmp_path, env)
    single = start([sys.executable, __file__, str(spec), str(out)],
                   tmp_path, env)
    finish(single, 'the single process', timeout)
    finish(ddp, 'the 2-process DDP run', timeout)
    load = lambda name: torch.load(out / name, weights_only=False)  # noqa
    return [load(f'rank{r}.pth') for r in (0, 1)], load('single.pth')


def max_diff(a, b, skip=()):
    """The largest absolute difference of the floating tensors of two state
    dicts (same keys required) and its key (None if all are equal), leaving
    out the keys in ``skip``; at least one tensor must be compared."""
    assert a.keys() == b.keys()
    keys = [k for k, v in a.items() if v.is_floating_point() and k not in skip]
    assert keys, 'no floating tensor left to compare'
    worst = (0.0, None)
    for key in keys:
        d = (a[key] - b[key]).abs().max().item()
        worst = max(worst, (d, key), key=lambda t: t[0])
    return worst


# ------------------------------------------------------------------ trainer
def _freeze(model, kinds):
    """Keep the modules of ``kinds`` in eval mode whatever ``train()`` is
    called on (models switch modes themselves, e.g. for history frames)."""
    import types

    from mmcv.cnn.bricks.drop import DropPath
    from torch import nn
    from torch.nn.modules.batchnorm import _BatchNorm
    from torch.nn.modules.dropout import _DropoutNd
    # nn.MultiheadAttention: its train mode only switches its attention
    # dropout on
    classes = dict(bn=(_BatchNorm, ),
                   dropout=(_DropoutNd, DropPath, nn.MultiheadAttention))
    unknown = set(kinds) - set(classes)
    if unknown:
        raise ValueError(f'freeze: unknown kinds {sorted(unknown)}; '
                         f'expected some of {sorted(classes)}')
    types_ = tuple(c for k in kinds for c in classes[k])

    def stay_eval(self, mode=True):
        return nn.Module.train(self, False)

    for module in model.modules():
        if isinstance(module, types_):
            module.train = types.MethodType(stay_eval, module)
            module.eval()


def _train_case(case, mode, rank, world):
    import torch
    from mmengine.logging import MessageHub
    from mmengine.optim import build_optim_wrapper
    from mmengine.runner import set_random_seed

    from projects.analysis.samples import (build_dataset, build_model,
                                           collate_fn, set_data_root)
    from projects.run_config import load_config
    cfg = load_config(str(ROOT / case['config']), case.get('options'))
    if case.get('data_root'):
        set_data_root(cfg, case['data_root'])
    steps, batch, seed = case['steps'], case['batch'], case.get('seed', 0)
    set_random_seed(seed)
    dataset = build_dataset(cfg)
    samples = [dataset[i % len(dataset)] for i in range(steps * batch)]
    collate = collate_fn(cfg)
    set_random_seed(seed)
    model = build_model(cfg)
    model.init_weights()
    model.train()
    _freeze(model, case.get('freeze', ()))
    net = model
    if mode == 'ddp':
        from mmengine.model import MMDistributedDataParallel
        net = MMDistributedDataParallel(
            module=model, broadcast_buffers=False,
            find_unused_parameters=case.get('find_unused_parameters', False))
    optim = build_optim_wrapper(net, cfg.optim_wrapper)
    share = batch // world if mode == 'ddp' else batch // 2
    hub = MessageHub.get_current_instance()  # as the Runner's train loop
    hub.update_info('max_iters', steps)
    losses = []
    for step in range(steps):
        hub.update_info('iter', step)
        chunk = samples[step * batch:(step + 1) * batch]
        if mode == 'ddp':
            log = net.train_step(
                collate(chunk[rank * share:(rank + 1) * share]), optim)
        elif mode == 'whole':
            log = net.train_step(collate(chunk), optim)
        elif mode == 'halves':
            log, total = {}, 0
            with optim.optim_context(model):
                for h in range(2):
                    data = model.data_preprocessor(
                        collate(chunk[h * share:(h + 1) * share]), True)
                    loss, parts = model.parse_losses(
                        model._run_forward(data, mode='loss'))
                    total = total + loss / 2
                    for key, val in parts.items():
                        log[key] = log.get(key, 0.0) + float(val) / 2
            optim.update_params(total)
        else:
            raise ValueError(f'unknown mode {mode!r}; expected ddp, whole or '
                             'halves')
        losses.append({k: float(v.detach() if torch.is_tensor(v) else v)
                       for k, v in log.items()})
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return dict(losses=losses, state=state)


def main(spec, out):
    import torch
    import torch.distributed as dist
    world = int(os.environ.get('WORLD_SIZE', '1'))
    rank = 0
    if world > 1:
        dist.init_process_group('gloo')
        rank = dist.get_rank()
    torch.set_num_threads(1)
    results = {}
    for case in json.loads(Path(spec).read_text()):
        modes = ['ddp'] if world > 1 else case.get('modes', ['whole'])
        results[case['name']] = {m: _train_case(case, m, rank, world)
                                 for m in modes}
    Path(out).mkdir(parents=True, exist_ok=True)
    torch.save(results, Path(out) / (f'rank{rank}.pth' if world > 1
                                     else 'single.pth'))
    if world > 1:
        dist.destroy_process_group()


if __name__ == '__main__':
    sys.path.insert(0, str(ROOT))
    main(*sys.argv[1:3])
