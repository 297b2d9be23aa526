"""Write the Conformer fidelity fixture from an official Conformer checkout.

    python tools/model_converters/official_fixtures/conformer.py \
        /path/to/Conformer [--out tests/data/official/conformer.pt]

Run with pengzhiliang/Conformer at commit
815aaad3ef5dbdfcf1e11368891416c2d7478cb1 (2021-11-01), torch 2.13,
timm 1.0.31. Two official models, imported from the checkout (nothing of
it is copied):

- ``cls``: the classification ``Conformer`` (``conformer.py``, as built
  by ``models.py``: ``qkv_bias=True``, ``mlp_ratio=4``) at patch 16,
  ``channel_ratio=0.25`` (C1 = 16), embed 16, 2 heads, depth 6, 5
  classes, on 2 images of 64x64. Saved: the output ``[conv_cls, tran_cls]`` in
  eval mode (BatchNorm running statistics) and in train mode (batch
  statistics; drop path and dropout are 0), float64 and float32.
- ``det``: the detection backbone of the official mmdetection fork
  (``mmdetection/mmdet/models/backbones/Conformer.py``, maps after blocks
  4, 8, 11, 12 hard-coded, so depth 12) with the settings of its configs
  (patch 32, ``norm_eval=True``, ``frozen_stages=1``,
  ``return_cls_token=False``) at ``channel_ratio=0.25``, embed 16, 2
  heads, on 1 image of 64x96. Saved: the four maps in float64 and float32, the
  gradient of ``sum(map_i * g_i)`` w.r.t. the input (float64), and, after
  ``train()``, the names of the parameters with ``requires_grad=False``
  and of the BatchNorm layers left in eval mode. Its mmdet/mmcv 1.x
  imports (``get_root_logger``, ``mmcv.runner.load_checkpoint``,
  ``..builder.BACKBONES``) are stubbed in ``sys.modules`` while the file
  is imported; they are used for checkpoint loading and registration
  only.

Every parameter and BatchNorm buffer is seeded random (weights
N(0, 1/fan_in), biases and ``cls_token`` N(0, 0.1^2), norm weights
1 + N(0, 0.2^2), running means N(0, 0.1^2), running variances
U(0.5, 1.5)), drawn and stored in float32 (exact in float64); so are the
images and the output gradients ``g_i``.
"""
import argparse
import importlib.util
import sys
import types
from pathlib import Path

import torch
import torch.nn as nn

ROOT = Path(__file__).resolve().parents[3]
ARCH = dict(num_heads=2, channel_ratio=0.25, mlp_ratio=4, qkv_bias=True)
CLS = dict(embed_dim=16, patch_size=16, depth=6, num_classes=5)
DET = dict(embed_dim=16, patch_size=32, depth=12, norm_eval=True,
           frozen_stages=1, return_cls_token=False)
CLS_IMG, CLS_BATCH, DET_IMG, DET_BATCH = (64, 64), 2, (64, 96), 1


def load_file(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def import_cls(checkout):
    return load_file(Path(checkout) / 'conformer.py',
                     'conformer_release').Conformer


def import_det(checkout):
    """The mmdetection-fork backbone, with its mmdet/mmcv 1.x imports
    stubbed (registration and checkpoint loading only)."""
    registry = types.SimpleNamespace(register_module=lambda: (lambda c: c))
    stubs = {
        'mmdet': types.ModuleType('mmdet'),
        'mmdet.utils': types.ModuleType('mmdet.utils'),
        'mmcv.runner': types.ModuleType('mmcv.runner'),
        'conformer_det': types.ModuleType('conformer_det'),
        'conformer_det.models': types.ModuleType('conformer_det.models'),
        'conformer_det.models.builder':
        types.ModuleType('conformer_det.models.builder'),
        'conformer_det.models.backbones':
        types.ModuleType('conformer_det.models.backbones'),
    }
    stubs['mmdet.utils'].get_root_logger = lambda: None
    stubs['mmcv.runner'].load_checkpoint = None
    stubs['conformer_det.models.builder'].BACKBONES = registry
    for name in ('conformer_det', 'conformer_det.models',
                 'conformer_det.models.backbones'):
        stubs[name].__path__ = []
    saved = {k: sys.modules.get(k) for k in stubs}
    sys.modules.update(stubs)
    try:
        path = (Path(checkout) /
                'mmdetection/mmdet/models/backbones/Conformer.py')
        return load_file(path, 'conformer_det.models.backbones.Conformer'
                         ).Conformer
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


def randomise(model, seed):
    g = torch.Generator().manual_seed(seed)

    def rnd(shape):
        return torch.randn(shape, generator=g)

    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm2d, nn.LayerNorm)):
                m.weight.copy_(1 + 0.2 * rnd(m.weight.shape))
                m.bias.copy_(0.1 * rnd(m.bias.shape))
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(0.1 * rnd(m.running_mean.shape))
                m.running_var.copy_(
                    0.5 + torch.rand(m.running_var.shape, generator=g))
            elif isinstance(m, (nn.Conv2d, nn.Linear)):
                m.weight.copy_(rnd(m.weight.shape) /
                               m.weight[0].numel()**0.5)
                if m.bias is not None:
                    m.bias.copy_(0.1 * rnd(m.bias.shape))
        model.cls_token.copy_(0.1 * rnd(model.cls_token.shape))


def state_of(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def cls_fixture(Conformer):
    torch.manual_seed(0)
    model = Conformer(**ARCH, **CLS)
    randomise(model, seed=0)
    state = state_of(model)
    g = torch.Generator().manual_seed(1)
    img = torch.randn(CLS_BATCH, 3, *CLS_IMG, generator=g)
    result = dict(state_dict=state, img=img, config=dict(ARCH, **CLS))
    for dtype, tag in ((torch.float64, ''), (torch.float32, 'fp32_')):
        for mode in ('eval', 'train'):
            model.load_state_dict(state)  # train mode updates BN stats
            model.to(dtype).train(mode == 'train')
            with torch.no_grad():
                result[tag + mode] = [
                    t.clone() for t in model(img.to(dtype))]
    return result


def det_fixture(Conformer):
    torch.manual_seed(0)
    model = Conformer(**ARCH, **DET)
    randomise(model, seed=2)
    state = state_of(model)
    g = torch.Generator().manual_seed(3)
    img = torch.randn(DET_BATCH, 3, *DET_IMG, generator=g)
    model.train()  # the official freezing happens in train()
    frozen = sorted(n for n, p in model.named_parameters()
                    if not p.requires_grad)
    bn_eval = sorted(n for n, m in model.named_modules()
                     if isinstance(m, nn.BatchNorm2d) and not m.training)
    model.double().eval()
    x = img.double().requires_grad_(True)
    maps = model(x)
    grad_out = [torch.randn(m.shape, generator=g) for m in maps]
    sum((m * go).sum() for m, go in zip(maps, grad_out)).backward()
    model.float()
    with torch.no_grad():
        maps32 = model(img.float())
    return dict(state_dict=state, img=img, config=dict(ARCH, **DET),
                maps=[m.detach() for m in maps], grad_out=grad_out,
                input_grad=x.grad.detach(), fp32_maps=list(maps32),
                frozen_params=frozen, bn_eval=bn_eval)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('checkout', help='pengzhiliang/Conformer checkout')
    parser.add_argument('--out', default=str(
        ROOT / 'tests/data/official/conformer.pt'))
    args = parser.parse_args()
    torch.save(dict(
        official='pengzhiliang/Conformer conformer.py Conformer and '
        'mmdetection/mmdet/models/backbones/Conformer.py',
        cls=cls_fixture(import_cls(args.checkout)),
        det=det_fixture(import_det(args.checkout))), args.out)
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
