"""Write the RevCol fidelity fixture from an official RevCol checkout.

    python tools/model_converters/official_fixtures/revcol.py /path/to/RevCol \
        [--out tests/data/official/revcol.pt]

Run with megvii-research/RevCol at commit
1680848ca82e844d06ff38b3ca557e4a10b2e66d (2023-09-06), torch 2.13, timm 1.0.

Builds the official classification ``FullNet`` (``models/revcol.py``),
``RevColHuge`` and the mmseg backbone at tiny sizes, in float64, with
seeded random weights (every conv/linear weight ~ N(0, 1/fan_in), every
bias, LayerNorm weight/bias, layer-scale ``gamma`` and shortcut ``alpha``
randomised away from its constant init;
``gamma`` and ``alpha`` get random signs, |.| in [0.3, 1]):

- ``plain``: channels [8, 16, 24, 32], blocks [1, 1, 2, 1], 2 columns,
  5 classes, no intermediate supervision (``cls`` head). Saved: the
  official state dict, the input (1x3x64x64), the logits, the last column's
  four feature maps (forward hook on the last ``SubNet``), the gradients of
  ``(logits * grad_out).sum()`` w.r.t. the input and every parameter
  (official ``save_memory=False``; the official ``save_memory=True``
  reversible backward is checked against it here and the max difference
  printed and stored).
- ``inter``: channels [8, 12, 16, 24], blocks [1, 1, 1, 1], 4 columns,
  5 classes, intermediate supervision (``cls_blocks``, ConvNeXt
  ``decoder_blocks``). Saved: state dict, input (1x3x32x32), the four
  classifier outputs, the three decoder outputs and the official
  ``loss.compound_loss`` (fcoe 3.0, ccoe 0.7, BCEWithLogits / CE) for an
  image in [0, 1] and labels.
- ``huge``: the official ``RevColHuge`` (``models/revcol_huge.py``: the
  extra ``level0.fusion.up2`` branch from the previous column's level 3,
  ``ReverseFunctionforHuge``) with channels [8, 12, 16, 24], blocks
  [1, 1, 1, 1], 3 columns, 7x7 depthwise kernels, 5 classes; saved like
  ``plain`` but with the gradients of the ``alpha`` and ``up2`` parameters
  only (size).
- ``seg``: the official mmseg backbone ``RevCol``
  (``Segmentation/mmseg/models/backbones/revcol.py``; its up branches
  resize to the down branch's size) with channels [8, 12, 16, 24], blocks
  [1, 1, 1, 1], 2 columns, on a 40x56 input (not a multiple of 32).
  Saved: state dict, input, the four feature maps (``save_memory=False``;
  its ``save_memory=True`` path fails at this commit: the Segmentation
  ``ReverseFunction`` passes RevCol-H's three arguments to ``level0``).
  Its mmseg/mmcv 0.x
  imports (registry, logger, ``BaseModule``, init helpers) are stubbed
  while the file is imported.

Weights and inputs are drawn in float32 and stored as float32 (exact in
float64); outputs and gradients are float64. The file is about 2 MB;
regenerating gives equal tensors. Only the official modules are imported
from the checkout; nothing of it is copied.
"""
import argparse
import math
import sys
from pathlib import Path

import torch


def randomise(model, seed):
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape):
        return torch.randn(*shape, generator=g)

    def signed(shape):
        mag = torch.rand(shape, generator=g) * 0.7 + 0.3
        sign = torch.where(torch.rand(shape, generator=g) < 0.5, -1., 1.)
        return mag * sign

    with torch.no_grad():
        for name, p in model.named_parameters():
            leaf = name.rsplit('.', 1)[-1]
            if leaf.startswith('alpha') or leaf == 'gamma':
                new = signed(p.shape)
            elif leaf == 'bias':
                new = 0.1 * rnd(p.shape)
            elif p.dim() == 1:  # LayerNorm weights
                new = 1 + 0.2 * rnd(p.shape)
            else:  # conv / linear weights
                fan_in = p[0].numel()
                new = rnd(p.shape) / math.sqrt(fan_in)
            p.copy_(new.to(p.dtype))


def state_dict32(model):
    return {k: v.detach().float().clone() for k, v in
            model.state_dict().items()}


def plain_case(FullNet, save_memory, huge=False):
    torch.manual_seed(0)
    if huge:
        model = FullNet([8, 12, 16, 24], [1, 1, 1, 1], 3, kernel_size=7,
                        num_classes=5, drop_path=0.0,
                        save_memory=save_memory, inter_supv=False)
    else:
        model = FullNet([8, 16, 24, 32], [1, 1, 2, 1], 2, kernel_size=3,
                        num_classes=5, drop_path=0.0,
                        save_memory=save_memory, inter_supv=False)
    randomise(model, 5 if huge else 1)
    model = model.double().eval()
    # weights equal to their float32 values, as stored
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.float().double())
    g = torch.Generator().manual_seed(2)
    x = torch.randn(1, 3, 64, 64, generator=g).double()
    grad_out = torch.randn(1, 5, generator=g, dtype=torch.float64)
    feats = {}
    getattr(model, f'subnet{model.num_subnet - 1}').register_forward_hook(
        lambda m, i, o: feats.update(out=[t.detach().clone() for t in o]))
    x = x.requires_grad_()
    logits = model(x)[0][0]
    (logits * grad_out).sum().backward()
    grads = {k: p.grad.detach().clone() for k, p in model.named_parameters()
             if p.grad is not None
             and (not huge or 'up2' in k or 'alpha' in k)}
    return dict(state_dict=state_dict32(model), input=x.detach().float(),
                grad_out=grad_out, logits=logits.detach(),
                features=feats['out'], input_grad=x.grad.detach(),
                param_grads=grads)


def inter_case(FullNet, compound_loss):
    torch.manual_seed(0)
    model = FullNet([8, 12, 16, 24], [1, 1, 1, 1], 4, kernel_size=3,
                    num_classes=5, drop_path=0.0, save_memory=False,
                    inter_supv=True)
    randomise(model, 3)
    model = model.double().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.float().double())
    g = torch.Generator().manual_seed(4)
    x = torch.randn(1, 3, 32, 32, generator=g).double()
    image = torch.rand(1, 3, 32, 32, generator=g).double()
    # some pixels outside [0.01, 0.99]; float32-exact like the stored copy
    image = (image * 1.2 - 0.1).float().double()
    labels = torch.tensor([3])
    with torch.no_grad():
        cls_out, img_out = model(x)
        loss, _ = compound_loss(
            (3.0, 0.7), img_out, image.clone(), cls_out, labels,
            torch.nn.BCEWithLogitsLoss(), torch.nn.CrossEntropyLoss(), 0)
    return dict(state_dict=state_dict32(model), input=x.float(),
                image=image.float(),
                labels=labels, cls_outputs=list(cls_out),
                decoder_outputs=list(img_out), compound_loss=loss)


def load_seg_backbone(root):
    """The official mmseg ``RevCol`` class (``Segmentation/mmseg/models/
    backbones/revcol.py``). Its imports of the old mmseg/mmcv registries,
    logger and init helpers (absent from mmcv 2) are stubbed for the import
    only; the network code is the official one."""
    import importlib.util
    import types
    folder = Path(root) / 'Segmentation/mmseg/models/backbones'
    stubs = {
        'mmseg': dict(), 'mmseg.models': dict(),
        'mmseg.models.builder': dict(
            BACKBONES=types.SimpleNamespace(
                register_module=lambda *a, **k: (lambda c: c))),
        'mmseg.utils': dict(get_root_logger=lambda: None),
        'mmcv': dict(), 'mmcv.cnn': dict(constant_init=None,
                                         trunc_normal_init=None),
        'mmcv.runner': dict(BaseModule=type(
            'BaseModule', (torch.nn.Module, ),
            dict(__init__=lambda self, init_cfg=None:
                 torch.nn.Module.__init__(self))), _load_checkpoint=None),
    }
    saved = {k: sys.modules.get(k) for k in stubs}
    pkg = 'revcol_official_seg'
    try:
        for name, attrs in stubs.items():
            mod = types.ModuleType(name)
            mod.__dict__.update(attrs)
            sys.modules[name] = mod
        package = types.ModuleType(pkg)
        package.__path__ = [str(folder)]
        sys.modules[pkg] = package
        for sub in ('revcol_module', 'revcol_function', 'revcol'):
            spec = importlib.util.spec_from_file_location(
                f'{pkg}.{sub}', folder / f'{sub}.py')
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module
            spec.loader.exec_module(module)
        return module.RevCol
    finally:
        for name, mod in saved.items():
            if mod is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = mod


def seg_case(SegRevCol, save_memory=False):
    torch.manual_seed(0)
    model = SegRevCol([8, 12, 16, 24], [1, 1, 1, 1], 2, kernel_size=3,
                      drop_path=0.0, save_memory=save_memory)
    randomise(model, 7)
    model = model.double().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.float().double())
    g = torch.Generator().manual_seed(8)
    # 40x56: not a multiple of 32 (levels 10x14, 5x7, 2x3, 1x1)
    x = torch.randn(1, 3, 40, 56, generator=g).double()
    with torch.no_grad():
        feats = model(x)
    return dict(state_dict=state_dict32(model), input=x.float(),
                features=[f.clone() for f in feats])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('official', help='path to a RevCol checkout')
    parser.add_argument('--out', default=str(
        Path(__file__).resolve().parents[3] /
        'tests/data/official/revcol.pt'))
    args = parser.parse_args()
    sys.path.insert(0, str(Path(args.official).resolve()))
    from loss import compound_loss
    from models.revcol import FullNet
    from models.revcol_huge import RevColHuge

    plain = plain_case(FullNet, save_memory=False)
    rev = plain_case(FullNet, save_memory=True)
    diff = max([(plain['logits'] - rev['logits']).abs().max().item(),
                (plain['input_grad'] - rev['input_grad']).abs().max().item()]
               + [(plain['param_grads'][k] - rev['param_grads'][k])
                  .abs().max().item() for k in plain['param_grads']])
    print(f'official save_memory True vs False: max abs diff {diff:.3g}')
    plain['official_rev_vs_plain_max_abs'] = torch.tensor(diff)
    inter = inter_case(FullNet, compound_loss)
    huge = plain_case(RevColHuge, save_memory=False, huge=True)
    huge_rev = plain_case(RevColHuge, save_memory=True, huge=True)
    diff = max([(huge['logits'] - huge_rev['logits']).abs().max().item(),
                (huge['input_grad'] - huge_rev['input_grad']).abs().max()
                .item()] +
               [(huge['param_grads'][k] - huge_rev['param_grads'][k])
                .abs().max().item() for k in huge['param_grads']])
    print(f'official huge save_memory True vs False: max abs diff {diff:.3g}')
    huge['official_rev_vs_plain_max_abs'] = torch.tensor(diff)
    SegRevCol = load_seg_backbone(args.official)
    # save_memory=False only: the official Segmentation ReverseFunction
    # calls level0(x, c1, c3) (the RevCol-H signature), which the non-H
    # seg Fusion rejects (ValueError); every official seg config uses False
    seg = seg_case(SegRevCol, save_memory=False)
    out = dict(commit='1680848ca82e844d06ff38b3ca557e4a10b2e66d',
               plain=plain, inter=inter, huge=huge, seg=seg)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    torch.save(out, args.out)
    torch.load(args.out, weights_only=True)
    print(f'wrote {args.out} ({Path(args.out).stat().st_size / 1e3:.0f} kB)')


if __name__ == '__main__':
    main()
