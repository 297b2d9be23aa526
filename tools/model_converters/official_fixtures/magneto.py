"""Official-code fixture for Magneto (tests/data/official/magneto.pt).

Usage (torchscale 0.3.0 from PyPI, installed into a separate folder, never
into the project environment; no network needed afterwards)::

    python -m pip install --no-deps --target /tmp/torchscale torchscale==0.3.0
    PYTHONPATH=/tmp/torchscale python \
        tools/model_converters/official_fixtures/magneto.py \
        [--out tests/data/official/magneto.pt]

torchscale's ``architecture/encoder.py`` imports ``fairscale.nn`` only for
activation checkpointing and FSDP wrapping (both off here); when fairscale
is not installed a stub module is put in its place. ``timm`` (droppath) is
taken from the project environment.

The model is torchscale's ``Encoder(EncoderConfig(subln=True, ...),
embed_tokens=VisionEmbedding(prepend_cls_token=True),
embed_positions=PositionalEmbedding(L + 2, D))`` at a small size
(D=32, 4 heads, FFN 64, 3 layers, 32x32 images, 8x8 patches). It is called
as BEiT-3 calls it, ``encoder(src_tokens=None, token_embeddings=
encoder.embed_tokens(img), return_all_hiddens=True)``: with
``src_tokens=img`` its ``PositionalEmbedding`` would count positions from
the image's channel dimension. Every parameter, LayerNorms included, is
replaced by seeded random values (linears N(0, 0.2), norms 1 + N(0, 0.2)).

Float casts in torchscale 0.3.0: ``MultiheadAttention.forward`` computes
``F.softmax(..., dtype=torch.float32).type_as(...)`` and
``FeedForwardNetwork.forward`` computes ``activation_fn(x.float())
.type_as(x)``. Both round float64 activations to float32 (about 1e-7
relative). For the float64 reference (``fp64_exact``) they are neutralised
for the duration of the forward only: the attention module's ``F.softmax``
keeps a float64 input in float64, and ``Tensor.float`` leaves float64
tensors unchanged. The unpatched float64 output (``fp64_with_casts``) is
stored too, to show the size of the effect. float32 runs are unaffected by
the casts.

Init: for depths 1, 4, 12 the encoder is built twice with the same seed,
with ``subln=True`` and ``subln=False`` (LayerNorm construction draws no
random numbers, so every linear gets the same initial values); the ratio
of the ``subln=True`` to the ``subln=False`` parameters is torchscale's
Sub-LN ``init_scale``, and the names with ratio != 1 are recorded.

The file holds plain tensors, dicts, lists, numbers and strings
(``torch.load(..., weights_only=True)``).
``tests/magneto/test_magneto_official_fixture.py`` checks our converter
and ``MagnetoViT`` on it.
"""
import argparse
import contextlib
import sys
import types
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[3]
DIMS, HEADS, FFN, DEPTH, IMG, PATCH, BATCH = 32, 4, 64, 3, 32, 8, 2
INIT_DEPTHS = (1, 4, 12)


def import_torchscale():
    try:
        import fairscale.nn  # noqa: F401
    except ImportError:  # only checkpoint_wrapper / wrap, unused here
        stub = types.ModuleType('fairscale.nn')
        stub.checkpoint_wrapper = stub.wrap = lambda m, *a, **k: m
        sys.modules['fairscale'] = types.ModuleType('fairscale')
        sys.modules['fairscale.nn'] = stub
    import importlib.metadata
    torchscale = importlib.metadata.version('torchscale')
    from torchscale.architecture.config import EncoderConfig
    from torchscale.architecture.encoder import Encoder
    from torchscale.component import multihead_attention
    from torchscale.component.embedding import (PositionalEmbedding,
                                                VisionEmbedding)
    return (torchscale, EncoderConfig, Encoder, multihead_attention,
            PositionalEmbedding, VisionEmbedding)


def build(ts, depth=DEPTH, subln=True):
    _, EncoderConfig, Encoder, _, PositionalEmbedding, VisionEmbedding = ts
    cfg = EncoderConfig(encoder_embed_dim=DIMS, encoder_attention_heads=HEADS,
                        encoder_ffn_embed_dim=FFN, encoder_layers=depth,
                        subln=subln, normalize_output=True, dropout=0.,
                        attention_dropout=0., activation_dropout=0.,
                        drop_path_rate=0., vocab_size=-1)
    vision = VisionEmbedding(IMG, PATCH, 3, DIMS, prepend_cls_token=True)
    tokens = vision.num_position_embeddings()
    return Encoder(cfg, embed_tokens=vision,
                   embed_positions=PositionalEmbedding(tokens + 2, DIMS))


def randomise(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g, dtype=torch.float64)
            norm = 'layer_norm' in name or 'layernorm' in name or \
                'inner_attn_ln' in name
            p.copy_(1 + 0.2 * noise if norm and name.endswith('weight')
                    else 0.2 * noise)


@contextlib.contextmanager
def no_fp32_casts(mha_module):
    """Keep float64 in float64 through torchscale's two float32 casts."""
    F = mha_module.F
    proxy = types.SimpleNamespace(**{k: getattr(F, k) for k in dir(F)
                                     if not k.startswith('__')})

    def softmax(x, dim=None, dtype=None, **kw):
        if x.dtype == torch.float64:
            dtype = torch.float64
        return F.softmax(x, dim=dim, dtype=dtype, **kw)

    proxy.softmax = softmax
    orig_float = torch.Tensor.float

    def tensor_float(self, *args, **kwargs):
        if self.dtype == torch.float64 and not args and not kwargs:
            return self
        return orig_float(self, *args, **kwargs)

    mha_module.F, torch.Tensor.float = proxy, tensor_float
    try:
        yield
    finally:
        mha_module.F, torch.Tensor.float = F, orig_float


def run(model, img):
    model.eval()
    with torch.no_grad():
        out = model(src_tokens=None, token_embeddings=model.embed_tokens(img),
                    return_all_hiddens=True)
    return dict(out=out['encoder_out'],
                states=torch.stack(out['encoder_states']))


def init_scales(ts):
    scales, scaled = {}, None
    for depth in INIT_DEPTHS:
        default = torch.get_default_dtype()
        torch.set_default_dtype(torch.float64)  # exact ratios
        try:
            torch.manual_seed(depth)
            sub = dict(build(ts, depth, subln=True).named_parameters())
            torch.manual_seed(depth)
            pre = dict(build(ts, depth, subln=False).named_parameters())
        finally:
            torch.set_default_dtype(default)
        names, ratios = [], []
        for name, p in pre.items():
            p, q = p.detach(), sub[name].detach()
            mask = p.abs() > 1e-3
            ratio = q[mask] / p[mask]
            if not torch.allclose(ratio, torch.ones_like(ratio)):
                names.append(name)
                ratios.append(ratio)
        ratios = torch.cat(ratios)
        assert ratios.max() - ratios.min() < 1e-12, 'one init_scale expected'
        scales[str(depth)] = float(ratios.median())
        scaled = sorted({n.split('.')[-2] for n in names})
    return scales, scaled


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', default=str(
        ROOT / 'tests/data/official/magneto.pt'))
    args = parser.parse_args()
    ts = import_torchscale()
    model = build(ts)
    randomise(model)
    state = {k: v.detach().clone().double()
             for k, v in model.state_dict().items()}
    g = torch.Generator().manual_seed(1)
    img = torch.randn(BATCH, 3, IMG, IMG, generator=g, dtype=torch.float64)
    model.double()
    with_casts = run(model, img)
    with no_fp32_casts(ts[3]):
        exact = run(model, img)
    fp32 = run(model.float(), img.float())
    scales, scaled = init_scales(ts)
    torch.save(dict(
        official=f'torchscale {ts[0]} (PyPI), '
        'architecture/encoder.py Encoder(subln=True)',
        config=dict(embed_dims=DIMS, num_heads=HEADS, feedforward_channels=FFN,
                    num_layers=DEPTH, img_size=IMG, patch_size=PATCH),
        state_dict=state, img=img,
        fp64_exact=exact, fp64_with_casts=with_casts, fp32=fp32,
        init_scale=scales, init_scaled=scaled), args.out)
    d = (with_casts['out'] - exact['out']).abs().max()
    d32 = (fp32['out'].double() - exact['out']).abs().max()
    print(f'torchscale {ts[0]}: fp64 casts effect {d:.2e}, '
          f'fp32 vs fp64 {d32:.2e}, init_scale {scales}, scaled {scaled}')
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
