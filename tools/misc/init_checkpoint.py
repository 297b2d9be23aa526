"""Save the freshly initialised (untrained) model of a config as a checkpoint.

    python tools/misc/init_checkpoint.py CONFIG OUT.pth [--seed 0]

Evaluating it with tools/test.py gives the untrained baseline of a config.
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from mmengine.registry import MODELS, init_default_scope  # noqa: E402
from mmengine.runner import set_random_seed  # noqa: E402

from projects.run_config import load_config  # noqa: E402
from projects.training_guards import atomic_torch_save  # noqa: E402


def save_initial_checkpoint(config, out, seed=0):
    """Build the model of ``config`` with ``seed``, init it and save it."""
    cfg = load_config(config)
    init_default_scope(cfg.get('default_scope', 'mmengine'))
    set_random_seed(seed)
    model = MODELS.build(cfg.model)
    model.init_weights()
    atomic_torch_save(dict(meta=dict(seed=seed, iter=0), state_dict=model.state_dict()),
                      out)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('out')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    print(f'saved untrained model to '
          f'{save_initial_checkpoint(args.config, args.out, args.seed)}')


if __name__ == '__main__':
    main()
