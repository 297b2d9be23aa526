"""Official-code fixture for InternImage (tests/data/official/internimage.pt).

Usage (needs an official checkout, never the network)::

    python tools/model_converters/official_fixtures/internimage.py \
        /path/to/OpenGVLab/InternImage [--out tests/data/official/internimage.pt]

Run with OpenGVLab/InternImage@31c962dc6c1ceb23e580772f7daaa6944694fbe6
(torch 2.x, timm 1.0.31, CPU).

Builds the official classification ``InternImage`` (classification/models/
intern_image.py) with ``core_op='DCNv3_pytorch'`` (the official pure-PyTorch
core ``dcnv3_core_pytorch`` of classification/ops_dcnv3/functions/
dcnv3_func.py) at two small sizes, with seeded random weights:

* ``t_style``: channels 8, depths [1, 1, 2, 1], groups [1, 2, 4, 8],
  ``layer_scale=1.0`` (as the official det/seg T configs), offset scale 1,
  5 classes, with the classification head;
* ``h_style``: the InternImage-H block options at the same small size:
  ``post_norm``, ``res_post_norm``, ``center_feature_scale``,
  ``dw_kernel_size=5``, ``level2_post_norm`` with block ids [1],
  ``remove_center``, offset scale 2 (backbone only: H's CLIP-projector head
  is not implemented by us).

Every parameter the official init sets to a constant is randomised (the
zero-initialised offset / mask linears with a spread of about a pixel, the
layer-scale gammas, LN/BN affines, biases, BN running statistics and the
centre-feature-scale projection). The input is 2 x 3 x 40 x 56 (odd level
sizes 10x14, 5x7, 3x4, 2x2).

Written per model: the official state dict (``state_dict``; the random
weights are rounded to float32 before both runs, so it is stored in float32
and is exact for the float64 run too), the float64 input, and the logits (``t_style`` only) and the four level outputs (NCHW,
``forward_features_seq_out`` as the det/seg backbone returns them) of

* a float64 run in which the official sampling grids are also built in
  float64 (``_get_reference_points`` / ``_generate_dilation_grids``
  hard-code ``dtype=torch.float32``; this script swaps ``torch.linspace``
  inside dcnv3_func.py for a float64 one; nothing else is touched):
  ``*_f64``;
* a float32 run of the unmodified official code with the same weights
  rounded to float32: ``*_f32``.

For the record the script also prints how far an unpatched float64 run
(float32 grids) is from the patched one (about 1e-7 relative).

Only the compiled extension import (``import DCNv3`` and the
``pkg_resources.get_distribution('DCNv3')`` version query in dcnv3_func.py)
is stubbed: the compiled op is never called by ``DCNv3_pytorch``.
"""
import argparse
import sys
import types
from pathlib import Path

import torch

OUT = Path(__file__).resolve().parents[3] / 'tests/data/official/internimage.pt'

T_STYLE = dict(channels=8, depths=[1, 1, 2, 1], groups=[1, 2, 4, 8],
               num_classes=5, layer_scale=1.0, offset_scale=1.0,
               drop_path_rate=0.0)
H_STYLE = dict(channels=8, depths=[1, 1, 2, 1], groups=[1, 2, 4, 8],
               num_classes=5, layer_scale=None, offset_scale=2.0,
               post_norm=True, res_post_norm=True, center_feature_scale=True,
               dw_kernel_size=5, level2_post_norm=True,
               level2_post_norm_block_ids=[1], remove_center=True,
               drop_path_rate=0.0)


def import_official(root):
    # The compiled extension and its version query (``pkg_resources.
    # get_distribution('DCNv3')``, used only by the compiled path) are the
    # only things stubbed, and only while the official modules import.
    saved = {k: sys.modules.get(k) for k in ('DCNv3', 'pkg_resources')}
    fake_pkg = types.ModuleType('pkg_resources')
    fake_pkg.get_distribution = lambda name: types.SimpleNamespace(
        version='1.1')
    sys.modules['DCNv3'] = types.ModuleType('DCNv3')
    sys.modules['pkg_resources'] = fake_pkg
    sys.path.insert(0, str(Path(root) / 'classification'))
    try:
        from models.intern_image import InternImage
        from ops_dcnv3.functions import dcnv3_func
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
    return InternImage, dcnv3_func


class _Float64Linspace:
    """Stands in for ``torch`` inside dcnv3_func.py: ``linspace`` builds
    float64 grids, everything else is torch itself."""

    def __getattr__(self, name):
        return getattr(torch, name)

    @staticmethod
    def linspace(*args, **kwargs):
        kwargs['dtype'] = torch.float64
        return torch.linspace(*args, **kwargs)


def randomise(model, seed):
    g = torch.Generator().manual_seed(seed)

    def rand(shape):
        return torch.randn(shape, generator=g, dtype=torch.float64)

    with torch.no_grad():
        for name, p in model.state_dict().items():
            if not p.is_floating_point():
                continue
            leaf = name.rsplit('.', 1)[-1]
            if '.offset.' in name:          # zero at init: ~ a pixel
                value = rand(p.shape) * (0.5 if leaf == 'weight' else 0.3)
                if leaf == 'weight':
                    value = value / p.shape[1] ** 0.5 * 2
            elif '.mask.' in name:          # zero at init
                value = rand(p.shape) * (1.0 / p.shape[-1] ** 0.5
                                         if leaf == 'weight' else 0.5)
            elif leaf in ('gamma1', 'gamma2'):
                value = 0.5 + 0.5 * rand(p.shape)
            elif leaf == 'running_mean':
                value = 0.1 * rand(p.shape)
            elif leaf == 'running_var':
                value = 0.5 + rand(p.shape).abs()
            elif 'center_feature_scale_proj' in name:
                value = 0.5 * rand(p.shape)
            elif p.dim() == 1 and leaf == 'weight':   # LN / BN affine
                value = 1.0 + 0.2 * rand(p.shape)
            elif leaf == 'bias':
                value = 0.1 * rand(p.shape)
            else:                           # convs / linears: fan-in scale
                fan_in = p[0].numel() if p.dim() > 1 else 1
                value = rand(p.shape) / fan_in ** 0.5
            model.state_dict()[name].copy_(value.to(p.dtype))


def run(model, x, with_logits):
    with torch.no_grad():
        feats = [f.permute(0, 3, 1, 2).contiguous()
                 for f in model.forward_features_seq_out(x)]
        logits = model(x) if with_logits else None
    return feats, logits


def rel(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


def make(InternImage, dcnv3_func, cfg, seed, with_logits):
    torch.manual_seed(seed)
    model = InternImage(core_op='DCNv3_pytorch', **cfg)
    model = model.double().eval()
    randomise(model, seed)
    with torch.no_grad():  # float32-exact weights: stored in float32
        for v in model.state_dict().values():
            if v.is_floating_point():
                v.copy_(v.float().double())
    g = torch.Generator().manual_seed(seed + 100)
    x = torch.randn(2, 3, 40, 56, generator=g, dtype=torch.float64)
    sd = {k: v.float() if v.is_floating_point() else v.clone()
          for k, v in model.state_dict().items()}
    if not with_logits:
        sd = {k: v for k, v in sd.items()
              if k.startswith(('patch_embed.', 'levels.'))}

    real_torch = dcnv3_func.torch
    feats_grid32, logits_grid32 = run(model, x, with_logits)
    dcnv3_func.torch = _Float64Linspace()
    try:
        feats64, logits64 = run(model, x, with_logits)
    finally:
        dcnv3_func.torch = real_torch
    model = model.float()
    feats32, logits32 = run(model, x.float(), with_logits)

    out = dict(state_dict=sd, input=x,
               feats_f64=feats64, feats_f32=feats32)
    diffs = [rel(a, b) for a, b in zip(feats_grid32, feats64)]
    if with_logits:
        out.update(logits_f64=logits64, logits_f32=logits32)
        diffs.append(rel(logits_grid32, logits64))
    print(f'  float64 with float32 grids vs float64 grids: max rel '
          f'{max(diffs):.2e}')
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('official', help='OpenGVLab/InternImage checkout')
    parser.add_argument('--out', default=str(OUT))
    args = parser.parse_args(argv)
    InternImage, dcnv3_func = import_official(args.official)
    fixture = {}
    for name, cfg, seed, logits in (('t_style', T_STYLE, 0, True),
                                    ('h_style', H_STYLE, 1, False)):
        print(name)
        fixture[name] = make(InternImage, dcnv3_func, cfg, seed, logits)
        fixture[name]['config'] = repr(cfg)
    fixture['official_commit'] = '31c962dc6c1ceb23e580772f7daaa6944694fbe6'
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    torch.save(fixture, args.out)
    print(f'wrote {args.out} ({Path(args.out).stat().st_size / 1e6:.2f} MB)')


if __name__ == '__main__':
    main()
