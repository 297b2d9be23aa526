"""Write the Castling-ViT fidelity fixture from the official release.

    python tools/model_converters/official_fixtures/castling_vit.py \
        /path/to/Castling-ViT [--out tests/data/official/castling_vit.pt]

Run with GATECH-EIC/Castling-ViT at commit
c7b75c1b6b7879f5bf03dbf081352ddbee4d2a3c (2023-03-10; the block lives in
``attention.py``, earlier ``castling-vit.py``), torch 2.13, timm 1.0.31.
The release is the ``LinAngularAttention`` block only; the file is
imported from the checkout, nothing of it is copied.

- ``block``: the official ``LinAngularAttention(in_channels=32,
  num_heads=4, qkv_bias=False, res_kernel_size=9)`` (release defaults but
  the size) with ``sparse_reg=False`` (the linear-angular inference form)
  and ``sparse_reg=True`` (plus the thresholded softmax branch) on the same
  weights. Saved: its state dict, the input [2, 50, 32], and per mode the
  output and the gradients of ``(out * grad_out).sum()`` w.r.t. the input
  and every parameter.
- ``model``: no host network is released. The host here is timm's
  ``VisionTransformer`` (DeiT layout: embed 32, 2 layers, 4 heads, MLP
  ratio 2, qkv bias, class token, 32x32 images, 8x8 patches, 5 classes)
  whose ``blocks[i].attn`` are the official ``LinAngularAttention``
  (``qkv_bias=True``). timm's ``Block`` calls ``attn(x, attn_mask=...,
  is_causal=...)``; the official ``forward(x)`` takes no such arguments,
  so it is called through a subclass whose ``forward`` drops them (the
  only shim; module names and math unchanged). Saved: the state dict and,
  for ``sparse_reg=False`` / ``True``, the logits and the gradients of
  ``(logits * grad_out).sum()`` w.r.t. every parameter, in float64, and
  the logits in float32.

Every parameter is seeded random (weights N(0, 1/fan_in), biases,
``cls_token`` and ``pos_embed`` N(0, 0.1^2), LayerNorm weights
1 + N(0, 0.2^2), the depthwise ``dconv`` N(0, 0.3^2)), drawn and stored in
float32 (exact in float64). The release's ``attn_drop`` is built but never
applied; all dropouts are 0 here.
"""
import argparse
import importlib.util
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[3]
DIMS, HEADS, TOKENS, BATCH = 32, 4, 50, 2
DEPTH, MLP_RATIO, IMG, PATCH, CLASSES = 2, 2, 32, 8, 5


def import_release(checkout):
    path = Path(checkout) / 'attention.py'
    spec = importlib.util.spec_from_file_location('castling_release', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.LinAngularAttention


def randomise(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            if 'norm' in name and name.endswith('weight'):
                new = 1 + 0.2 * noise
            elif name.endswith('dconv.weight'):
                new = 0.3 * noise
            elif p.dim() == 1 or name in ('cls_token', 'pos_embed'):
                new = 0.1 * noise
            else:
                new = noise / p[0].numel()**0.5
            p.copy_(new)


def grads_of(module, inputs, grad_out):
    module.zero_grad()
    out = module(inputs)
    (out * grad_out).sum().backward()
    grads = {n: p.grad.detach().clone()
             for n, p in module.named_parameters()}
    return out.detach(), grads


def block_fixture(LinAngularAttention):
    torch.manual_seed(0)
    # built with sparse_reg=True (its two parameter-free MatMul modules);
    # the attribute then switches the branch on and off
    block = LinAngularAttention(DIMS, num_heads=HEADS, qkv_bias=False,
                                sparse_reg=True)
    randomise(block, seed=0)
    state = {k: v.detach().clone() for k, v in block.state_dict().items()}
    g = torch.Generator().manual_seed(1)
    x = torch.randn(BATCH, TOKENS, DIMS, generator=g).double()
    grad_out = torch.randn(BATCH, TOKENS, DIMS, generator=g).double()
    block.double().eval()
    result = dict(state_dict=state, x=x, grad_out=grad_out)
    for sparse in (False, True):
        block.sparse_reg = sparse
        xg = x.clone().requires_grad_(True)
        out, grads = grads_of(block, xg, grad_out)
        result['sparse' if sparse else 'linear'] = dict(
            out=out, input_grad=xg.grad.detach(), grads=grads)
    return result


def model_fixture(LinAngularAttention):
    from timm.models.vision_transformer import VisionTransformer

    class ReleaseAttention(LinAngularAttention):
        def forward(self, x, attn_mask=None, is_causal=False):
            assert attn_mask is None and not is_causal
            return super().forward(x)

    torch.manual_seed(0)
    model = VisionTransformer(
        img_size=IMG, patch_size=PATCH, num_classes=CLASSES, embed_dim=DIMS,
        depth=DEPTH, num_heads=HEADS, mlp_ratio=MLP_RATIO, qkv_bias=True)
    for blk in model.blocks:
        blk.attn = ReleaseAttention(DIMS, num_heads=HEADS, qkv_bias=True,
                                    sparse_reg=True)
    randomise(model, seed=2)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    g = torch.Generator().manual_seed(3)
    img = torch.randn(BATCH, 3, IMG, IMG, generator=g).double()
    grad_out = torch.randn(BATCH, CLASSES, generator=g).double()
    result = dict(state_dict=state, img=img, grad_out=grad_out,
                  config=dict(embed_dims=DIMS, num_layers=DEPTH,
                              num_heads=HEADS,
                              feedforward_channels=DIMS * MLP_RATIO,
                              img_size=IMG, patch_size=PATCH,
                              num_classes=CLASSES))
    for sparse in (False, True):
        for blk in model.blocks:
            blk.attn.sparse_reg = sparse
        model.double().eval()
        logits, grads = grads_of(model, img, grad_out)
        model.float()
        with torch.no_grad():
            fp32 = model(img.float())
        result['sparse' if sparse else 'linear'] = dict(
            logits=logits, grads=grads, fp32_logits=fp32)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('checkout', help='GATECH-EIC/Castling-ViT checkout')
    parser.add_argument('--out', default=str(
        ROOT / 'tests/data/official/castling_vit.pt'))
    args = parser.parse_args()
    LinAngularAttention = import_release(args.checkout)
    torch.save(dict(
        official='GATECH-EIC/Castling-ViT attention.py LinAngularAttention '
        '(model: in a timm DeiT-layout VisionTransformer host)',
        block=block_fixture(LinAngularAttention),
        model=model_fixture(LinAngularAttention)), args.out)
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
