"""Stand-ins for ``check_runner.measure_target`` whose behaviour the target's
name selects: the worker-pool tests run them in real worker processes."""
import os
import time


def measure(target, settings):
    """``sleep``: hangs; ``crash``: the process dies; ``missing``: a missing
    file; ``oom``: out of memory unless it has the device alone (a marker
    file per concurrent run); else a row with the name's length as params."""
    if target.name == 'sleep':
        time.sleep(600)
    if target.name == 'crash':
        os._exit(3)
    if target.name == 'missing':
        raise FileNotFoundError(2, 'No such file or directory',
                                '/data/ckpt.pth')
    if target.name.startswith('oom'):
        time.sleep(0.3)  # the other workers have started their targets
        busy = os.path.join(settings['work_dir'], f'busy-{os.getpid()}')
        others = [f for f in os.listdir(settings['work_dir'])
                  if f.startswith('busy-')]
        if others:
            raise RuntimeError('CUDA out of memory. Tried to allocate 2 GiB')
        open(busy, 'w').close()
        time.sleep(0.5)
        os.remove(busy)
    else:
        busy = os.path.join(settings['work_dir'], f'busy-{os.getpid()}')
        open(busy, 'w').close()
        time.sleep(4.0)
        os.remove(busy)
    return dict(config=target.name, what=target.what, params=len(target.name),
                infer_ms=1.0, train_ms=2.0, infer_peak_mb=1.0,
                train_peak_mb=2.0, loss=0.5, amp=False, train_batch=2,
                infer_batch=2, train_input='3x8x8', device='cpu')
