"""Write the RevViT fidelity fixture from an official SlowFast checkout.

    python -m pip install --no-deps --target /tmp/slowfast_deps \
        fvcore iopath yacs simplejson pytorchvideo termcolor tabulate \
        portalocker
    python tools/model_converters/official_fixtures/revvit.py \
        /path/to/SlowFast [--deps /tmp/slowfast_deps] \
        [--out tests/data/official/revvit.pt]

Run with facebookresearch/SlowFast at commit
287ec0076846560f44a9327e931a5a2360240533 (2026-03-16), torch 2.13. The
released Rev-ViT is SlowFast's ``MViT`` with ``MVIT.REV.ENABLE=True``
(``slowfast/models/reversible_mvit.py``: ``ReversibleMViT``,
``ReversibleBlock``, ``RevBackProp``). The model is built from the
official ``configs/ImageNet/REV_VIT_S.yaml`` (read from the checkout)
merged into ``get_cfg()``, with only the size changed: embed 32, 2 heads,
3 reversible layers, 32x32 images (8x8 patches, 4x4 tokens), 5 classes,
``DROPPATH_RATE=0`` (the official layers reseed the global RNG with
``torch.seed()``; see ``train_drop_path`` below for drop path).

Import shims (inserted in ``sys.modules`` here, nothing on disk changed):
``detectron2.layers.ROIAlign`` (detection head only, unused);
``slowfast.utils.logging`` (logger only: the real one imports
``slowfast.utils.distributed``, which needs a pytorchvideo newer than the
PyPI release); the ``slowfast.models`` package ``__init__`` is skipped
(it imports every model family), its modules are imported directly.

Every parameter is seeded random (drawn and stored in float32, exact in
float64, as is the input image; weights N(0, 1/fan_in),
biases and ``pos_embed`` N(0, 0.1^2), LayerNorm weights 1 + N(0, 0.2^2)).
Saved (plain tensors): the official state dict, the input (2x3x32x32),
and in float64

- ``eval``: the model output in eval mode (the official
  ``TransformerBasicHead`` applies softmax when not training), the
  pre-head pooled feature (forward pre-hook on ``head``) and the raw
  two-stream tokens (forward hook on ``rev_backbone``, ``[B, N, 2D]``);
- ``train``: the logits in train mode (the reversible path,
  ``RevBackProp``), and the gradients of ``(logits * grad_out).sum()``
  w.r.t. the input and every parameter computed by the official
  reversible backward; the official non-reversible backward
  (``no_custom_backward=True``) is compared with it and its max
  difference stored;

- ``train_drop_path``: the same with drop path (rates linear from 0 to
  0.5 over the layers, set on the official layers after construction).
  The official layers seed each stochastic part with ``torch.seed()``;
  that is replaced by a counter during this run, and the seeds the layers
  drew are stored, so a re-implementation can replay the same masks in
  its forward and reversible backward;

and in float32 the eval-mode output and the train-mode logits.
"""
import argparse
import itertools
import logging
import sys
import types
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[3]
EMBED, HEADS, DEPTH, IMG, PATCH, CLASSES, BATCH = 32, 2, 3, 32, 8, 5, 2
DROP_PATH, FIRST_SEED = 0.5, 1000


def import_slowfast(checkout, deps):
    sys.path[:0] = [str(deps), str(checkout)]
    d2 = types.ModuleType('detectron2')
    d2_layers = types.ModuleType('detectron2.layers')
    d2_layers.ROIAlign = None
    sys.modules.update({'detectron2': d2, 'detectron2.layers': d2_layers})
    log = types.ModuleType('slowfast.utils.logging')
    log.get_logger = logging.getLogger
    sys.modules['slowfast.utils.logging'] = log
    import slowfast.utils
    slowfast.utils.logging = log
    models = types.ModuleType('slowfast.models')
    models.__path__ = [str(Path(checkout) / 'slowfast/models')]
    sys.modules['slowfast.models'] = models
    from slowfast.config.defaults import get_cfg
    from slowfast.models.video_model_builder import MViT
    return get_cfg, MViT


def build(checkout, get_cfg, MViT):
    cfg = get_cfg()
    cfg.merge_from_file(
        str(Path(checkout) / 'configs/ImageNet/REV_VIT_S.yaml'))
    cfg.MVIT.EMBED_DIM = EMBED
    cfg.MVIT.NUM_HEADS = HEADS
    cfg.MVIT.DEPTH = DEPTH
    cfg.MVIT.PATCH_KERNEL = cfg.MVIT.PATCH_STRIDE = [PATCH, PATCH]
    cfg.MVIT.DROPPATH_RATE = 0.0
    cfg.DATA.TRAIN_CROP_SIZE = cfg.DATA.TEST_CROP_SIZE = IMG
    cfg.MODEL.NUM_CLASSES = CLASSES
    cfg.NUM_GPUS = 0
    assert cfg.MVIT.REV.ENABLE and cfg.MVIT.SEPARATE_QKV
    assert cfg.MVIT.REV.RESPATH_FUSE == 'concat'
    assert not cfg.MVIT.USE_MEAN_POOLING and not cfg.MVIT.CLS_EMBED_ON
    return MViT(cfg), cfg


def randomise(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            if name.endswith('norm.weight'):
                new = 1 + 0.2 * noise
            elif p.dim() == 1 or name == 'pos_embed':
                new = 0.1 * noise
            else:
                new = noise / p[0].numel()**0.5
            p.copy_(new.float())  # float32 values: exact in float64


def run_eval(model, img):
    seen = {}
    hooks = [
        model.rev_backbone.register_forward_hook(
            lambda m, a, out: seen.__setitem__('tokens', out)),
        model.head.register_forward_pre_hook(
            lambda m, a: seen.__setitem__('pooled', a[0])),
    ]
    model.eval()
    with torch.no_grad():
        out = model([img])
    for h in hooks:
        h.remove()
    return dict(probs=out, pooled=seen['pooled'], tokens=seen['tokens'])


def run_train(model, img, grad_out, reversible=True):
    model.train()
    model.rev_backbone.no_custom_backward = not reversible
    model.zero_grad()
    x = img.clone().requires_grad_(True)
    logits = model([x])
    (logits * grad_out).sum().backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
    model.rev_backbone.no_custom_backward = False
    return dict(logits=logits.detach(), input_grad=x.grad.detach(),
                grads=grads)


def run_drop_path(model, img, grad_out):
    """Train mode with drop path: the official layers draw their seeds
    with ``torch.seed()``, replaced here by a counter so that the seeds are
    known; they are stored per layer in drawing order (attn, droppath,
    FFN)."""
    rates = torch.linspace(0, DROP_PATH, DEPTH).tolist()
    layers = model.rev_backbone.layers
    for layer, rate in zip(layers, rates):
        layer.drop_path_rate = rate
    counter = itertools.count(FIRST_SEED)
    orig_seed, torch.seed = torch.seed, lambda: next(counter)
    try:
        out = run_train(model, img, grad_out)
    finally:
        torch.seed = orig_seed
        for layer in layers:
            layer.drop_path_rate = 0.0
    out['seeds'] = [[layer.seeds[k] for k in ('attn', 'droppath', 'FFN')]
                    for layer in layers]
    out['drop_path_rate'] = DROP_PATH
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('checkout', help='facebookresearch/SlowFast checkout')
    parser.add_argument('--deps', default='/tmp/slowfast_deps',
                        help='folder with fvcore, iopath, yacs, simplejson, '
                        'pytorchvideo (pip --target)')
    parser.add_argument('--out', default=str(
        ROOT / 'tests/data/official/revvit.pt'))
    args = parser.parse_args()
    get_cfg, MViT = import_slowfast(args.checkout, args.deps)
    torch.manual_seed(0)
    model, cfg = build(args.checkout, get_cfg, MViT)
    randomise(model)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.double()
    g = torch.Generator().manual_seed(1)
    img = torch.randn(BATCH, 3, IMG, IMG, generator=g)
    grad_out = torch.randn(BATCH, CLASSES, generator=g).double()

    ev = run_eval(model, img.double())
    tr = run_train(model, img.double(), grad_out)
    vanilla = run_train(model, img.double(), grad_out, reversible=False)
    dropped = run_drop_path(model, img.double(), grad_out)
    assert not torch.allclose(dropped['logits'], tr['logits']), \
        'no sample was dropped: change FIRST_SEED'
    rev_vs_vanilla = max(
        float((tr['grads'][n] - vanilla['grads'][n]).abs().max())
        for n in tr['grads'])
    model.float()
    ev32 = run_eval(model, img)
    tr32 = run_train(model, img, grad_out.float())
    torch.save(dict(
        official='facebookresearch/SlowFast MViT with MVIT.REV.ENABLE '
        '(configs/ImageNet/REV_VIT_S.yaml, resized)',
        config=dict(embed_dims=EMBED, num_heads=HEADS, num_layers=DEPTH,
                    feedforward_channels=int(EMBED * cfg.MVIT.MLP_RATIO),
                    img_size=IMG, patch_size=PATCH,
                    num_classes=CLASSES),
        state_dict=state, img=img, grad_out=grad_out,
        eval=ev, train=tr, rev_vs_vanilla_grad=rev_vs_vanilla,
        train_drop_path=dropped,
        fp32=dict(probs=ev32['probs'], logits=tr32['logits'])), args.out)
    print(f'official reversible vs vanilla grads: {rev_vs_vanilla:.2e}; '
          f'wrote {args.out}')


if __name__ == '__main__':
    main()
