"""Worker processes of the GPU check: each measures one config at a time
(:func:`measure_target`); the parent hands out the configs (heavy ones
first, at most ``max_heavy`` of them at once), kills a worker whose config
runs past the timeout or the run's deadline (an error row instead of a
hang), replaces dead workers, and retries a config that ran out of GPU
memory once when the GPU is otherwise idle.
"""
import gc
import importlib
import os
import re
import time
import traceback
from collections import deque
from multiprocessing import connection, get_context

from .check_targets import load_target

# name parts of real-size configs, by how much GPU time / memory they take
HEAVY_WORDS = (('revcol-h', 8), ('internimage-xl', 8), ('bevformer', 6),
               ('cityscapes', 4), ('8xb512', 4), ('8xb2048', 4),
               ('cascade', 3), ('internimage', 3), ('mask-rcnn', 2),
               ('upernet', 2), ('deformable-detr', 2), ('8xb256', 2),
               ('in1k', 1), ('coco', 1), ('ade20k', 1), ('voc12aug', 1))
FATAL_CUDA = ('illegal memory access', 'device-side assert',
              'unspecified launch failure', 'CUDA error')


def weight(name):
    """Rough cost of a config from its file name (0 for the tiny configs,
    which carry a synthetic dataset suffix)."""
    if 'synthetic' in name:
        return 0
    return 1 + sum(w for word, w in HEAVY_WORDS if word in name)


def _missing(err):
    """What ``err`` says is missing (``None`` if it says nothing of it)."""
    msg = ' '.join(str(err).split())
    if isinstance(err, ImportError) and 'mmcv._ext' in msg:
        return 'missing mmcv._ext (mmcv built without its compiled ops)'
    match = re.search(r'(\w+) miss in module (\w+)', msg)
    if match:
        return f'missing mmcv op {match.group(1)} in mmcv.{match.group(2)}'
    match = re.search(r"Could not run '([\w:.]+)' with arguments from the "
                      r"'(\w+)' backend", msg)
    if match:
        return f'missing {match.group(2)} kernel of op {match.group(1)}'
    match = re.search(r'(\w+): implementation for device (\S+) not found',
                      msg)
    if match:  # mmcv's device registry has no kernel for this device
        return (f'missing {match.group(2).split(":")[0].upper()} kernel of '
                f'mmcv op {match.group(1)}')
    if 'no kernel image is available' in msg:
        return f'missing CUDA kernel for this GPU: {msg[:160]}'
    match = re.search(r'"(\w+)" not implemented for \'(\w+)\'', msg)
    if match:
        return f'missing {match.group(2)} kernel of {match.group(1)}'
    if isinstance(err, FileNotFoundError):
        return f'missing file {err.filename or msg}'
    if type(err).__name__ == 'OutOfMemoryError' or 'out of memory' in msg:
        return f'CUDA out of memory: {msg[:160]}'
    return None


def describe_error(err):
    """One line naming what is missing (an mmcv op, a CUDA kernel, a file),
    from the error or the one that caused it, or else the exception and the
    innermost frame it came from."""
    cause = err
    while cause is not None:
        missing = _missing(cause)
        if missing:
            return missing
        cause = cause.__cause__ or cause.__context__
    msg = ' '.join(str(err).split())
    frames = traceback.extract_tb(err.__traceback__)
    where = (f' (at {os.path.basename(frames[-1].filename)}:'
             f'{frames[-1].lineno})' if frames else '')
    return f'{type(err).__name__}: {msg[:200]}{where}'


def measure_target(target, settings):
    """The row of one :class:`~.check_targets.Target` (raises on failure)."""
    from .timing import measure_config, prepare_data
    cfg, what = load_target(target, settings['work_dir'])
    prepare_data(cfg, settings.get('data_root'), settings['cache_dir'])
    row = measure_config(cfg, settings.get('batch_size'), settings['iters'],
                         settings['warmup'], settings['device'])
    return dict(config=target.name, what=what, **row)


def _resolve(spec):
    module, name = spec.split(':')
    return getattr(importlib.import_module(module), name)


def _worker(conn, settings):
    """Receive targets, send rows, until ``None``; exit after a CUDA error
    that leaves the context unusable (the parent starts a fresh worker)."""
    try:
        if settings.get('threads'):
            import torch
            torch.set_num_threads(settings['threads'])
        from .samples import quiet_logs
        for module in settings.get('imports', ()):
            importlib.import_module(module)
        measure = _resolve(settings['measure'])
        quiet_logs()
    except Exception as err:  # a broken environment: the parent stops
        conn.send(dict(setup_error=describe_error(err)))
        return
    conn.send('ready')
    while True:
        target = conn.recv()
        if target is None:
            return
        start = time.perf_counter()
        try:
            row = measure(target, settings)
        except Exception as err:  # one broken config: an error row
            row = dict(config=target.name, what=target.what,
                       error=describe_error(err))
        row['seconds'] = round(time.perf_counter() - start, 1)
        conn.send(row)
        gc.collect()
        if settings['device'].startswith('cuda'):
            import torch
            torch.cuda.empty_cache()
            if any(word in row.get('error', '') for word in FATAL_CUDA):
                return


class _Slot:
    """One worker process and the target it runs."""

    def __init__(self, ctx, settings):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker, args=(child, settings),
                                daemon=True)
        self.proc.start()
        child.close()
        self.ready = False
        self.target = self.start = None

    def stop(self, kill=False):
        if kill:
            self.proc.kill()
        else:
            try:
                self.conn.send(None)
            except OSError:
                pass
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()


def _is_oom(row):
    return 'out of memory' in row.get('error', '')


def _error_row(target, error):
    return dict(config=target.name, what=target.what, error=error)


def run_targets(targets, settings, on_row, jobs=1, timeout=600.0,
                deadline=None, max_heavy=2):
    """Measure ``targets`` in ``jobs`` worker processes; ``on_row(row)``
    is called for each finished one (in completion order). A target past
    ``timeout`` seconds, or still waiting or running at ``deadline`` (a
    ``time.time()``), gets an error row. A worker that dies before it is
    ready raises ``RuntimeError`` (a broken environment, not a config)."""
    ctx = get_context('spawn')
    queue = deque(sorted(targets, key=lambda t: -weight(t.name)))
    oom = {}  # name -> (target, row): out of memory beside other configs
    retried = set()
    slots = []

    def heavy(target):
        return weight(target.name) >= 4

    def next_target(busy):
        running = sum(heavy(s.target) for s in slots if s.target)
        for i, target in enumerate(queue):
            if not heavy(target) or running < max_heavy:
                del queue[i]
                return target
        if not queue and not busy and oom:
            target, _ = oom.pop(next(iter(oom)))
            retried.add(target.name)
            return target
        return None

    def finish(slot, row):
        target = slot.target
        slot.target = None
        if _is_oom(row) and jobs > 1 and target.name not in retried:
            oom[target.name] = (target, row)  # again, with the GPU alone
            return
        if target.name in retried:
            row['retried_alone'] = True
        on_row(row)

    def receive(slot):
        try:
            msg = slot.conn.recv()
        except (EOFError, OSError):
            msg = None
        if msg == 'ready':
            slot.ready = True
        elif isinstance(msg, dict) and 'setup_error' in msg:
            raise RuntimeError('a check worker could not start: '
                               f"{msg['setup_error']}")
        elif msg is None:  # the worker died
            slot.proc.join(5)
            slots.remove(slot)
            if not slot.ready:
                raise RuntimeError('a check worker died while starting '
                                   f'(exit code {slot.proc.exitcode})')
            if slot.target is not None:
                on_row(_error_row(slot.target, 'worker process died (exit '
                                  f'code {slot.proc.exitcode})'))
        else:
            fatal = any(w in msg.get('error', '') for w in FATAL_CUDA)
            finish(slot, msg)
            if fatal:  # the worker exits; a fresh one takes its place
                slot.stop()
                slots.remove(slot)

    stopped = 'the run was stopped'  # unless it ends normally
    try:
        while queue or oom or any(s.target for s in slots):
            if deadline is not None and time.time() > deadline:
                stopped = 'deadline of the run reached'
                break
            while len(slots) < jobs and (queue or oom):
                slots.append(_Slot(ctx, settings))
            for slot in slots:
                if slot.ready and slot.target is None:
                    target = next_target(any(s.target for s in slots))
                    if target is not None:
                        slot.target, slot.start = target, time.perf_counter()
                        slot.conn.send(target)
            ready = connection.wait([s.conn for s in slots], timeout=0.5)
            for slot in list(slots):
                if slot.conn in ready:
                    receive(slot)
                elif slot.target is not None and \
                        time.perf_counter() - slot.start > timeout:
                    on_row(_error_row(slot.target, 'timeout: no result after '
                                      f'{timeout:.0f} s (worker killed)'))
                    slot.stop(kill=True)
                    slots.remove(slot)
    finally:
        for slot in slots:
            if slot.target is not None:
                on_row(_error_row(slot.target, f'{stopped} while running '
                                  '(worker killed)'))
            slot.stop(kill=slot.target is not None)
        for _, row in oom.values():
            on_row(dict(row, error=row['error'] + ' (with other configs '
                        f'running; not retried alone: {stopped})'))
        for target in queue:
            on_row(_error_row(target, f'not run: {stopped}'))
