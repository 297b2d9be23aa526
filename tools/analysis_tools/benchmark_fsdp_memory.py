"""Peak GPU memory per process of one training step, FSDP vs DDP.

    torchrun --nproc_per_node=N tools/analysis_tools/benchmark_fsdp_memory.py \
        [--config CFG] [--modes fsdp ddp] [--batch 1] [--steps 2] [--out J]

The config (default: UPerNet RevCol-H, FSDP) is trained for ``--steps``
steps on random images of its crop size with random ADE20K-style labels
(the backbone's pre-trained weights are not loaded: memory does not depend
on the values), once with the config's ``FSDPStrategy`` and once with
mmengine's ``DDPStrategy`` (same model, optimizer and precision), through
the strategies' ``prepare`` and the model's ``train_step`` as
``FlexibleRunner`` runs them. Per rank it records
``torch.cuda.max_memory_allocated`` / ``max_memory_reserved`` over the steps
and the time of the last step; rank 0 prints a table and the FSDP/DDP ratio
of the largest per-rank peak. With N GPUs FSDP holds about 1/N of the
parameters, gradients and optimizer state per GPU; with one GPU it shards
nothing and only its mixed precision differs. A mode that runs out of memory
is reported as OOM. Needs CUDA (exits with status 2 and a message without).
Segmentation (mmseg ``EncoderDecoder``) configs only.
"""
import argparse
import json
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_CONFIG = ROOT / ('configs/revcol/'
                         'upernet_revcol-h_8xb1-fsdp-bf16-160k_ade20k-640x640.py')
GiB = 1024**3


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default=str(DEFAULT_CONFIG))
    parser.add_argument('--modes', nargs='+', choices=['fsdp', 'ddp'],
                        default=['fsdp', 'ddp'])
    parser.add_argument('--batch', type=int, default=1,
                        help='images per GPU')
    parser.add_argument('--steps', type=int, default=2,
                        help='training steps per mode (the first warms up)')
    parser.add_argument('--out', help='also write the results as JSON')
    return parser.parse_args(argv)


def _single_process_env():
    """Rendezvous variables for a run without torchrun (one process)."""
    if 'RANK' in os.environ:
        return
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    os.environ.update(RANK='0', WORLD_SIZE='1', LOCAL_RANK='0',
                      MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))


def synthetic_batch(cfg, batch, num_classes):
    """``batch`` random uint8 images of the crop size with random labels
    (255 = ignore on a tenth of the pixels), as the ADE20K loader gives."""
    import torch
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    h, w = cfg.model.data_preprocessor.size
    inputs, samples = [], []
    for _ in range(batch):
        inputs.append(torch.randint(0, 256, (3, h, w), dtype=torch.uint8))
        label = torch.randint(0, num_classes, (1, h, w))
        label[torch.rand(1, h, w) < 0.1] = 255
        sample = SegDataSample(metainfo=dict(
            img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w)))
        sample.gt_sem_seg = PixelData(data=label)
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def measure(cfg, mode, batch, steps, work_dir):
    """Peak memory (bytes) and last-step seconds of ``mode`` on this rank."""
    import copy

    import torch
    from mmengine.registry import STRATEGIES
    strategy_cfg = (copy.deepcopy(cfg.strategy.to_dict()) if mode == 'fsdp'
                    else dict(type='DDPStrategy'))
    strategy_cfg.update(
        work_dir=work_dir,
        env_kwargs=dict(launcher='pytorch',
                        dist_cfg=dict(backend='nccl'),
                        randomness=dict(seed=0)))
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.backbone.init_cfg = None
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    strategy = STRATEGIES.build(strategy_cfg)
    model, optim_wrapper = strategy.prepare(
        model_cfg, optim_wrapper=copy.deepcopy(cfg.optim_wrapper))[:2]
    num_classes = cfg.model.decode_head.num_classes
    data = synthetic_batch(cfg, batch, num_classes)
    seconds = None
    try:
        for _ in range(steps):
            torch.cuda.synchronize()
            start = time.perf_counter()
            model.train_step(data, optim_wrapper)
            torch.cuda.synchronize()
            seconds = time.perf_counter() - start
        result = dict(allocated=torch.cuda.max_memory_allocated(),
                      reserved=torch.cuda.max_memory_reserved(),
                      seconds=seconds)
    except torch.cuda.OutOfMemoryError:
        result = dict(allocated=None, reserved=None, seconds=None)
    del model, optim_wrapper, strategy
    torch.cuda.empty_cache()
    return result


def table(results, world_size):
    lines = [f'| mode | rank | peak allocated (GiB) | peak reserved (GiB) | '
             f'step (s) |', '|---|---|---|---|---|']
    for mode, ranks in results.items():
        for rank, r in enumerate(ranks):
            if r['allocated'] is None:
                lines.append(f'| {mode} | {rank} | OOM | OOM | - |')
            else:
                lines.append(
                    f'| {mode} | {rank} | {r["allocated"] / GiB:.2f} | '
                    f'{r["reserved"] / GiB:.2f} | {r["seconds"]:.3f} |')
    peaks = {m: max((r['allocated'] or float('inf')) for r in ranks)
             for m, ranks in results.items()}
    if set(peaks) == {'fsdp', 'ddp'}:
        ratio = peaks['fsdp'] / peaks['ddp']
        lines.append(f'\nlargest per-GPU peak, FSDP / DDP on {world_size} '
                     f'GPU(s): {ratio:.3f}')
    return '\n'.join(lines)


def main(argv=None):
    args = parse_args(argv)
    import torch
    if not torch.cuda.is_available():
        sys.stderr.write('error: benchmark_fsdp_memory.py measures GPU '
                         'memory and needs CUDA (one GPU per process under '
                         'torchrun); torch sees no CUDA device here\n')
        sys.exit(2)
    _single_process_env()
    torch.cuda.set_device(int(os.environ['LOCAL_RANK']))
    import torch.distributed as dist
    from projects.run_config import apply_strategy, load_config
    cfg = load_config(args.config, None, None, 'pytorch')
    apply_strategy(cfg, None, source=args.config)
    if cfg.get('strategy', {}).get('type') != 'FSDPStrategy' or \
            'decode_head' not in cfg.model:
        sys.stderr.write(f'error: {args.config} is not a segmentation '
                         'config with strategy=dict(type="FSDPStrategy")\n')
        sys.exit(2)
    results = {}
    with tempfile.TemporaryDirectory() as work_dir:
        for mode in args.modes:
            mine = measure(cfg, mode, args.batch, args.steps, work_dir)
            gathered = [None] * dist.get_world_size()
            dist.all_gather_object(gathered, mine)
            results[mode] = gathered
    if dist.get_rank() == 0:
        name = torch.cuda.get_device_name()
        print(f'{Path(args.config).name}, batch {args.batch} per GPU, '
              f'{name}\n')
        print(table(results, dist.get_world_size()))
        if args.out:
            Path(args.out).write_text(json.dumps(dict(
                config=args.config, batch=args.batch, device=name,
                world_size=dist.get_world_size(), results=results),
                indent=2))
    dist.destroy_process_group()


if __name__ == '__main__':
    main()
