"""Official-code fixture for the UniGrad loss (tests/data/official/unigrad.pt).

    python tools/model_converters/official_fixtures/unigrad.py CHECKOUT
        [--out tests/data/official/unigrad.pt]

``CHECKOUT``: fundamentalvision/UniGrad at commit ede8e68; its
``project/pretrainer.py`` is imported (``Pretrainer.loss_unigrad``, the
loss of ``configs/unigrad.py``). ``loss_unigrad`` calls
``torch.distributed`` unguarded, so a one-process gloo group is started;
nothing else is changed.

Three consecutive training steps are replayed in float64 on one
``Pretrainer``-like object (``F = None`` at the start, ``cfg.lambd = 100``,
``cfg.rho = 0.99`` as in ``configs/unigrad.py``): each step draws seeded
random raw projector outputs ``p1, p2`` (online, with gradient) and
``p1m, p2m`` (momentum), normalises them as the official training loop does
(``F.normalize``) and calls ``loss_unigrad(z1, z2, z1m, z2m)``; the loss is
back-propagated to ``p1, p2``. Stored per step: the inputs, the loss (the
official surrogate value), ``pos_sim``, the moving-average correlation ``F``
after the step and the gradients with respect to ``p1`` and ``p2``.

The file holds plain tensors, lists, numbers and strings
(``torch.load(..., weights_only=True)``); ``tests/unigrad/
test_unigrad_official_fixture.py`` checks our loss and ``F`` update on it.
"""
import argparse
import os
import sys
import types
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[3]
OFFICIAL_COMMIT = 'ede8e68'
CFG = dict(lambd=100.0, rho=0.99, batch=6, dims=8, steps=3)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('official', help='UniGrad checkout')
    parser.add_argument('--out', default=str(
        ROOT / 'tests/data/official/unigrad.pt'))
    args = parser.parse_args()
    sys.path.insert(0, str(Path(args.official).resolve()))
    from project.pretrainer import Pretrainer
    os.environ.setdefault('MASTER_ADDR', '127.0.0.1')
    os.environ.setdefault('MASTER_PORT', '29534')
    torch.distributed.init_process_group('gloo', rank=0, world_size=1)

    trainer = types.SimpleNamespace(
        F=None, cfg=types.SimpleNamespace(lambd=CFG['lambd'],
                                          rho=CFG['rho']))
    gen = torch.Generator().manual_seed(0)
    steps = []
    for _ in range(CFG['steps']):
        raw = [torch.randn(CFG['batch'], CFG['dims'], generator=gen,
                           dtype=torch.float64) for _ in range(4)]
        # correlated views, as from a trained network
        raw[1] = raw[1] * 0.5 + raw[0]
        raw[2] = raw[2] * 0.3 + raw[0]
        raw[3] = raw[3] * 0.3 + raw[1]
        p1, p2 = (r.clone().requires_grad_() for r in raw[:2])
        z1, z2 = (torch.nn.functional.normalize(p) for p in (p1, p2))
        z1m, z2m = (torch.nn.functional.normalize(p) for p in raw[2:])
        loss, pos_sim = Pretrainer.loss_unigrad(trainer, z1, z2, z1m, z2m)
        loss.backward()
        steps.append(dict(p1=raw[0], p2=raw[1], p1m=raw[2], p2m=raw[3],
                          loss=loss.detach(), pos_sim=pos_sim,
                          F=trainer.F.clone(), grad_p1=p1.grad,
                          grad_p2=p2.grad))
    torch.distributed.destroy_process_group()
    torch.save(dict(official=f'fundamentalvision/UniGrad @ '
                    f'{OFFICIAL_COMMIT}, project/pretrainer.py '
                    'Pretrainer.loss_unigrad', config=CFG, steps=steps),
               args.out)
    print(', '.join(f"step {i}: loss {float(s['loss']):.6f}"
                    for i, s in enumerate(steps)) + f'; wrote {args.out}')


if __name__ == '__main__':
    main()
