"""Pre-training throughput and peak memory of every SSL algorithm, as
ratios to MAE measured in the same run; or (``--table``) the fair SSL
benchmark's results table.

    python tools/analysis_tools/benchmark_ssl.py [--batch-size 16]
        [--iters 5] [--threads 1] [--device cpu] [--algorithms MAE BYOL ...]
    python tools/analysis_tools/benchmark_ssl.py --table [--seeds 0 1 2]
        [--methods MAE BYOL ...] [--work-dir work_dirs/ssl_benchmark]
        [--data-root data/ssl_patterns] [--num-train 600] [--num-val 300]
        [--palette 4]

``--table``: every method of ``projects.ssl_eval.benchmark.METHODS`` (the
tiny fair configs in configs/ssl_benchmark, two groups: ResNet + SGD and
ViT + AdamW) is pre-trained on the SSL patterns set (generated into
``--data-root`` if missing) once per seed, in this process; the trained and
the randomly initialised backbone of the same config and seed are
evaluated by weighted kNN (k=20, T=0.07) and a linear probe on frozen
features (train split -> val split). Distillation methods (MaskDistill,
G2SD) use the MAE checkpoint of the same seed as teacher, so MAE runs
first. Every run writes ``<work-dir>/runs/<method>_s<seed>.json``
atomically; a rerun skips finished (method, seed) pairs, and processes
given different ``--seeds`` may share the work dir (``--report``: only
collect). The table (mean ± std over seeds) goes to stdout,
``<work-dir>/results.md`` and ``results.json``.

Algorithms are discovered from the zoo: every config under ``configs/``
(outside ``_base_`` folders) whose name contains ``tiny`` and
``synthetic-imagenet`` and whose ``model.type`` is an mmpretrain
``BaseSelfSupervisor`` (mmpretrain's algorithms and every project's, after
the config's ``custom_imports``) - one config per algorithm type, the
fair-benchmark one (configs/ssl_benchmark, one shared tiny ResNet-18 /
ViT-nano) where it exists. A new SSL project with a tiny synthetic-ImageNet
config joins the table automatically. Algorithms outside the fair benchmark
whose backbone is a ResNet get the fair tiny ResNet (``backbone: fair``);
others keep their own tiny backbone (``backbone: own``).

Each algorithm runs in its own process (single-threaded by default): a
batch of the config's own train pipeline on a synthetic dataset, one
warm-up ``train_step`` on 2 images (lazy kernels, optimiser states), one
untimed step on the full batch, then ``--iters`` timed steps. Throughput =
batch / median step time; peak memory = the process's peak resident set
minus the resident set after the 2-image warm-up (CPU), or the peak of
``torch.cuda.max_memory_allocated`` above the allocation then (GPU). CPU timings on a shared
machine are noisy; compare ratios from one run.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

FAIR_DIR = 'configs/ssl_benchmark'
FAIR_BASE = f'{FAIR_DIR}/_base_/fair_tiny_synthetic-imagenet.py'
BASELINE = 'MAE'


def rss_mb():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20


def _is_ssl(type_name):
    from mmpretrain.models.selfsup.base import BaseSelfSupervisor
    from mmpretrain.registry import MODELS
    cls = MODELS.get(type_name) if isinstance(type_name, str) else None
    return cls is not None and isinstance(cls, type) and \
        issubclass(cls, BaseSelfSupervisor)


def discover(root=ROOT):
    """``{algorithm type: config path}`` of the tiny SSL configs."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    import projects  # noqa: F401
    init_default_scope('mmpretrain')
    found = {}
    paths = sorted((Path(root) / 'configs').rglob('*.py'))
    # the fair-benchmark configs first: they win for their algorithms
    paths.sort(key=lambda p: (FAIR_DIR not in p.as_posix(), str(p)))
    for path in paths:
        rel = path.relative_to(root).as_posix()
        if '_base_' in path.parts or 'tiny' not in path.name or \
                'synthetic-imagenet' not in path.name:
            continue
        try:
            cfg = Config.fromfile(str(path))
        except Exception as err:  # a broken config must not stop the rest
            print(f'skip {rel}: {type(err).__name__}: {err}', file=sys.stderr)
            continue
        model = cfg.get('model')
        algo = model.get('type') if isinstance(model, dict) else None
        if algo and algo not in found and _is_ssl(algo):
            found[algo] = rel
    return found


def _fair_backbone(cfg):
    """Swap a ResNet backbone (outside the fair configs) for the fair tiny
    ResNet; returns 'fair', 'own'."""
    from mmengine.config import Config
    bb = cfg.model.get('backbone', {})
    if 'ResNet' not in str(bb.get('type', '')):
        return 'own'
    fair = Config.fromfile(str(ROOT / FAIR_BASE))
    old = None
    neck = cfg.model.get('neck')
    if isinstance(neck, dict):
        old = neck.get('in_channels')
        neck['in_channels'] = fair.feat_channels
    cfg.model.backbone = fair.backbone
    return 'fair' if old is not None else 'own'


def worker(config, args, data_root, out):
    import torch
    from mmengine.config import Config
    from mmengine.dataset import pseudo_collate
    from mmengine.logging import MessageHub
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import FUNCTIONS, init_default_scope
    from mmpretrain.registry import DATASETS, MODELS

    import projects  # noqa: F401
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(str(ROOT / config))
    backbone = 'fair' if FAIR_DIR in config else _fair_backbone(cfg)
    teacher = cfg.get('teacher_checkpoint')
    if teacher and not (ROOT / teacher).exists():
        cfg.model.teacher.init_cfg = None  # a random teacher times the same
    model = MODELS.build(cfg.model)
    model.init_weights()
    device = torch.device(args.device)
    model.to(device).train()
    ow = cfg.optim_wrapper.copy()
    if ow.get('type') == 'AmpOptimWrapper' and device.type == 'cpu':
        ow['type'] = 'OptimWrapper'
        ow.pop('loss_scale', None)
    optim = build_optim_wrapper(model, ow)
    hub = MessageHub.get_current_instance()
    hub.update_info('max_iters', 1000)
    ds_cfg = cfg.train_dataloader.dataset.copy()
    ds_cfg['data_root'] = data_root
    ds_cfg.pop('ann_file', None)
    ds_cfg['split'] = 'train'
    dataset = DATASETS.build(ds_cfg)
    collate = cfg.train_dataloader.get('collate_fn')
    collate = FUNCTIONS.get(collate['type']) if collate else pseudo_collate
    batch = collate([dataset[i % len(dataset)]
                     for i in range(args.batch_size)])
    small = collate([dataset[i % len(dataset)] for i in range(2)])
    params = sum(p.numel() for p in model.parameters()) / 1e6
    bb_params = sum(p.numel() for p in model.backbone.parameters()) / 1e6

    def step(i, data=batch):
        hub.update_info('iter', i)
        model.train_step(data, optim)

    step(0, small)  # lazy kernels and libraries, optimiser states

    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = rss_mb()
    step(0)  # warm-up at full batch (counted in the peak, not timed)
    times = []
    for i in range(args.iters):
        if device.type == 'cuda':
            torch.cuda.synchronize()
        start = time.perf_counter()
        step(i + 1)
        if device.type == 'cuda':
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    if device.type == 'cuda':
        peak = (torch.cuda.max_memory_allocated() - base) / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 \
            - base
    times.sort()
    median = times[len(times) // 2]
    result = dict(ips=args.batch_size / median, peak_mb=max(peak, 0.),
                  params=params, backbone_params=bb_params,
                  backbone=f'{backbone}: {cfg.model.backbone.type}')
    Path(out).write_text(json.dumps(result))


def run_table(args):
    """The fair-benchmark table (see the module docstring)."""
    import torch
    from mmengine.registry import init_default_scope

    import projects  # noqa: F401
    from projects.run_config import write_json_atomic
    from projects.ssl_eval import benchmark as bench
    from projects.synthetic_data import generate_ssl_patterns
    torch.set_num_threads(args.threads)
    init_default_scope('mmpretrain')
    methods = args.methods or list(bench.METHODS)
    unknown = set(methods) - set(bench.METHODS)
    if unknown:
        raise SystemExit(f'error: unknown method(s) {sorted(unknown)}; '
                         f'known: {list(bench.METHODS)}')
    # teachers first
    for name in list(methods):
        teacher = bench.METHODS[name][2]
        if teacher and teacher not in methods:
            methods.insert(0, teacher)
    methods.sort(key=lambda m: bench.METHODS[m][2] is not None)
    data_root = Path(args.data_root)
    if not (data_root / 'meta' / 'val.txt').exists():
        generate_ssl_patterns(data_root, args.num_train, args.num_val,
                              size=(40, 40), seed=0, palette=args.palette)
    work_dir = Path(args.work_dir)
    (work_dir / 'runs').mkdir(parents=True, exist_ok=True)

    def run_file(name, seed):
        return work_dir / 'runs' / \
            f'{name.lower().replace(" ", "")}_s{seed}.json'

    def load(name, seed):
        path = run_file(name, seed)
        return json.loads(path.read_text()) if path.exists() else {}

    for seed in [] if args.report else args.seeds:
        for name in methods:
            key = f'{name}/{seed}'
            if 'trained' in load(name, seed):
                continue
            config, group, teacher = bench.METHODS[name]
            run_dir = work_dir / name.lower().replace(' ', '') / \
                f'seed{seed}'
            teacher_ckpt = None
            if teacher:
                teacher_ckpt = load(teacher, seed).get('checkpoint')
                if not teacher_ckpt or not Path(teacher_ckpt).exists():
                    write_json_atomic(run_file(name, seed), dict(
                        error=f'no {teacher} checkpoint of seed {seed} '
                        '(teacher)'))
                    continue
            start = time.time()
            row = dict(config=config, group=group)
            try:
                cfg = bench.load_cfg(config, data_root, run_dir, seed,
                                     teacher=teacher_ckpt, root=ROOT)
                pool = bench.FEAT_REDUCE[group]
                row['random'] = bench.evaluate(
                    bench.random_init_model(cfg), cfg, pool)
                model, ckpt, loss = bench.pretrain(cfg)
                row['trained'] = bench.evaluate(model, cfg, pool)
                row.update(checkpoint=ckpt, final_loss=loss,
                           seconds=time.time() - start)
            except Exception as err:  # one failure must not stop the table
                row['error'] = f'{type(err).__name__}: {err}'
            write_json_atomic(run_file(name, seed), row)
            print(f'{key}: {row}', file=sys.stderr, flush=True)
    results = {f'{name}/{seed}': load(name, seed) for name in methods
               for seed in args.seeds}
    rows = bench.summarise(results, methods, args.seeds)
    table = bench.markdown_table(rows)
    write_json_atomic(work_dir / 'results.json',
                      dict(runs=results, summary=rows))
    tmp = work_dir / 'results.md.tmp'
    tmp.write_text(table + '\n')
    os.replace(tmp, work_dir / 'results.md')
    print(table)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--iters', type=int, default=5)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--algorithms', nargs='+',
                        help='only these model types (default: all found)')
    parser.add_argument('--worker', nargs=3, help=argparse.SUPPRESS)
    parser.add_argument('--table', action='store_true',
                        help='run the fair benchmark table instead')
    parser.add_argument('--report', action='store_true',
                        help='--table: only collect the finished runs')
    parser.add_argument('--methods', nargs='+',
                        help='--table: only these methods (default: all)')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--work-dir', default='work_dirs/ssl_benchmark')
    parser.add_argument('--data-root', default='data/ssl_patterns')
    parser.add_argument('--num-train', type=int, default=600)
    parser.add_argument('--num-val', type=int, default=300)
    parser.add_argument('--palette', type=int, default=4,
                        help='colour pairs of the generated set (0: '
                        'independent random colours)')
    args = parser.parse_args(argv)
    if args.table:
        return run_table(args)
    if args.worker:
        return worker(*args.worker[:1], args, *args.worker[1:])

    found = discover()
    if args.algorithms:
        missing = set(args.algorithms) - set(found)
        if missing:
            raise SystemExit(f'error: no tiny synthetic-imagenet config for '
                             f'{sorted(missing)} (found {sorted(found)})')
        found = {a: found[a] for a in args.algorithms}
    if BASELINE not in found:
        raise SystemExit(f'error: the baseline {BASELINE} has no tiny '
                         'config')
    from projects.synthetic_data import generate_imagenet
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = generate_imagenet(Path(tmp) / 'data', args.batch_size, 2,
                                 seed=0, num_classes=10)
        for algo, config in found.items():
            out = Path(tmp) / f'{algo}.json'
            cmd = [sys.executable, __file__, '--worker', config, str(data),
                   str(out), '--batch-size', str(args.batch_size),
                   '--iters', str(args.iters), '--threads',
                   str(args.threads), '--device', args.device]
            env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
            proc = subprocess.run(cmd, capture_output=True, text=True,
                                  env=env, cwd=ROOT)
            if proc.returncode != 0 or not out.exists():
                err = (proc.stderr.strip().splitlines() or ['?'])[-1]
                rows[algo] = dict(config=config, error=err)
            else:
                rows[algo] = dict(config=config, **json.loads(
                    out.read_text()))
            print(f'{algo}: {rows[algo]}', file=sys.stderr)
    base = rows[BASELINE]
    print(f'batch {args.batch_size}, {args.iters} timed train steps after '
          f'one warm-up, {args.threads} thread(s), device {args.device}; '
          f'ratios to {BASELINE} from this run')
    print('| algorithm | config | backbone | params (M) (backbone) | '
          'images/s | vs MAE | peak memory (MB) | vs MAE |')
    print('|---|---|---|---|---|---|---|---|')
    for algo, r in sorted(rows.items(),
                          key=lambda kv: (kv[0] != BASELINE, kv[0])):
        name = Path(r['config']).name
        if 'error' in r:
            print(f'| {algo} | {name} | | | failed: {r["error"]} | | | |')
            continue
        ratio_t = r['ips'] / base['ips'] if 'ips' in base else float('nan')
        ratio_m = r['peak_mb'] / base['peak_mb'] \
            if base.get('peak_mb') else float('nan')
        print(f'| {algo} | {name} | {r["backbone"]} | {r["params"]:.2f} '
              f'({r["backbone_params"]:.2f}) | {r["ips"]:.1f} | '
              f'{ratio_t:.2f} | {r["peak_mb"]:.0f} | {ratio_m:.2f} |')


if __name__ == '__main__':
    main()
