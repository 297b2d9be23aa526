"""Keep the global RNG untouched around code that reseeds it."""
import torch


def preserve_global_rng():
    """``torch.random.fork_rng`` over the CPU and every CUDA device.

    ``torch.manual_seed`` inside the block seeds the CPU generator and all
    CUDA generators; all of them are restored on exit.
    """
    devices = (list(range(torch.cuda.device_count()))
               if torch.cuda.is_available() else [])
    return torch.random.fork_rng(devices=devices)
