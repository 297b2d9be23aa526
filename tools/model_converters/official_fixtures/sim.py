"""Official-code fixture for SIM (tests/data/official/sim.pt).

    python tools/model_converters/official_fixtures/sim.py CHECKOUT
        [--out tests/data/official/sim.pt]

``CHECKOUT``: OpenGVLab/Siamese-Image-Modeling at commit bbdec30 (only
``models_sim.py``, ``models_vit.py`` and ``util/`` are imported).

Shims (outside the official math): ``models_vit.py`` imports
``timm.models.layers.helpers.to_2tuple``, gone from current timm, so a stub
module providing timm's ``to_2tuple`` is put in its place; ``np.float``
(removed in numpy 1.24, used by ``util/pos_embed.py``) is set to ``float``;
``torch._six`` (removed in torch 2, ``util/misc.py`` takes ``inf`` from it)
is a stub holding ``inf``;
``compute_unigrad_loss`` calls ``torch.distributed`` unguarded, so a
one-process gloo group is started. ``main_pretrain.py`` (for the view
pair) imports ``torch.utils.tensorboard`` (a stub without tensorboard) and
asserts ``timm.__version__ == "0.6.12"`` (the version string is set for
the import only).

The model is ``SiameseIMViT`` with the SIM loss at a small size: 32 px
images, 8 px patches (4 x 4 grid), encoder width 24, depth 2, 3 heads,
decoder width 32, 4 heads, MLP ratio 2, 2 projector + 2 predictor blocks
with BatchNorm (``PermuteBN``), ``neg_weight`` 0.02, frozen patch embedding.
Every parameter and BatchNorm buffer is replaced by seeded random values
(linears and tokens N(0, 0.2), norm weights 1 + N(0, 0.2), the encoder
``pos_embed`` too); the momentum branch gets its own random values. Only
``decoder_pos_embed`` stays the official sin-cos table. Inputs: 3 image
pairs, a view-1 mask with exactly 9 of 16 patches masked per sample, and
relative geometries (crop offsets, scales, one relative flip).

``forward_sim(x1, x2, rel_pos, mm=0.9, update_mm=True, mask)`` runs in train
mode; hooks record the online encoder output, the prediction and the raw
(pre-LayerNorm) target, then ``loss.backward()`` gives the gradients of the
online parameters; ``compute_unigrad_loss`` on a leaf copy of the
prediction gives its gradient. The momentum parameters after the update are
stored as well, and the online encoder's output on the whole of view 2
(a second forward with nothing masked and no momentum update), the
features a downstream model loaded from the converted checkpoint gives.

float64 reference (``fp64``): the official code rounds float64 activations
to float32 in ``LayerNorm.forward`` (``input.float()``), ``PermuteBN``,
``LayerScale`` and the loss (``pred.float()``), and builds its relative
query embedding and sin-cos tables with float32 frequencies. For this run
only, ``Tensor.float`` leaves float64 tensors unchanged, the relative
embedding function sees ``torch.float32`` as float64, and
``decoder_pos_embed`` is the official numpy table in float64 (the official
code stores it in float32). ``fp32``: the same weights in float32, official
code unpatched (prediction, target and loss).

View pair: the official ``DataAugmentationForSIM`` (input size 16,
``crop_min`` 0.08) with its colour and tensor transforms replaced by the
identity, on a seeded random 37 x 53 RGB image, 8 draws (torch seed 1):
each view's flip and crop ``(i, j, h, w)`` (recorded around the official
modules), the flipped, cropped and bicubic-resized views (uint8) and the
relative geometry tuple.

The file holds plain tensors, dicts, numbers and strings
(``torch.load(..., weights_only=True)``). ``tests/sim/
test_sim_official_fixture.py`` converts the state dict with
``tools/model_converters/sim_to_visionplug.py`` and checks our ``SIM`` on it.
"""
import argparse
import contextlib
import os
import sys
import types
from functools import partial
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[3]
OFFICIAL_COMMIT = 'bbdec30'
CFG = dict(img_size=32, patch_size=8, embed_dims=24, depth=2, num_heads=3,
           decoder_embed_dims=32, decoder_num_heads=4, mlp_ratio=2,
           projector_depth=2, predictor_depth=2, neg_weight=0.02,
           num_masked=9, batch=3, momentum=0.9)
VIEWS = dict(image=(37, 53), size=16, pairs=8)


def import_official(checkout):
    from timm.layers import to_2tuple
    helpers = types.ModuleType('timm.models.layers.helpers')
    helpers.to_2tuple = to_2tuple
    sys.modules['timm.models.layers.helpers'] = helpers
    np.float = float  # removed in numpy 1.24; util/pos_embed.py uses it
    six = types.ModuleType('torch._six')  # removed in torch 2; util/misc.py
    six.inf = float('inf')
    sys.modules['torch._six'] = six
    sys.path.insert(0, str(checkout))
    import models_sim
    from util import pos_embed
    return models_sim, pos_embed


def import_augmentation():
    """``main_pretrain.DataAugmentationForSIM`` (after import_official)."""
    import timm
    board = types.ModuleType('torch.utils.tensorboard')
    board.SummaryWriter = None  # used by main() only
    sys.modules['torch.utils.tensorboard'] = board
    version, timm.__version__ = timm.__version__, '0.6.12'
    try:
        import main_pretrain
    finally:
        timm.__version__ = version
    return main_pretrain.DataAugmentationForSIM


def views(augmentation):
    """Flip, crop and relative geometry of the official view pair."""
    from PIL import Image
    aug = augmentation(argparse.Namespace(input_size=VIEWS['size'],
                                          crop_min=0.08))
    aug.color_transform1 = aug.color_transform2 = lambda img: img
    aug.format_transform = lambda img: torch.from_numpy(np.array(img))
    drawn = []
    flip, crop = aug.random_flip, aug.random_resized_crop

    def record(module):
        def call(img):
            out = module(img)
            drawn.append(out[1:])
            return out
        return call

    aug.random_flip, aug.random_resized_crop = record(flip), record(crop)
    gen = torch.Generator().manual_seed(1)
    H, W = VIEWS['image']
    img = torch.randint(0, 256, (H, W, 3), generator=gen, dtype=torch.uint8)
    torch.manual_seed(1)
    cases = []
    for _ in range(VIEWS['pairs']):
        drawn.clear()
        view1, view2, *rel = aug(Image.fromarray(img.numpy()))
        (f1, ), (f2, ), c1, c2 = drawn
        cases.append(dict(flips=[bool(f1), bool(f2)],
                          crops=[list(c1[:4]), list(c2[:4])], view1=view1,
                          view2=view2, rel_pos=[float(r) for r in rel]))
    return dict(image=img, size=VIEWS['size'], cases=cases)


def build(models_sim):
    args = argparse.Namespace(
        loss_type='sim', decoder_embed_dim=CFG['decoder_embed_dims'],
        use_abs_pos_emb=True, drop_path_rate=0., init_values=None,
        projector_depth=CFG['projector_depth'],
        predictor_depth=CFG['predictor_depth'], use_proj_ln=False,
        use_pred_ln=False, online_ln=False, train_patch_embed=False,
        neg_weight=CFG['neg_weight'], with_blockwise_mask=True)
    return models_sim.SiameseIMViT(
        img_size=CFG['img_size'], patch_size=CFG['patch_size'],
        embed_dim=CFG['embed_dims'], depth=CFG['depth'],
        num_heads=CFG['num_heads'],
        decoder_num_heads=CFG['decoder_num_heads'],
        mlp_ratio=CFG['mlp_ratio'],
        norm_layer=partial(models_sim.LayerNorm, eps=1e-6), args=args)


@torch.no_grad()
def randomise(model, gen):
    for name, tensor in model.state_dict().items():
        if name == 'decoder_pos_embed' or 'num_batches_tracked' in name:
            continue
        noise = torch.randn(tensor.shape, generator=gen, dtype=torch.float64)
        if 'running_var' in name:
            value = 1 + noise.abs()
        elif 'norm' in name and name.endswith('weight'):
            value = 1 + 0.2 * noise
        else:
            value = 0.2 * noise
        tensor.copy_(value)


def make_inputs(gen):
    B, g = CFG['batch'], CFG['img_size'] // CFG['patch_size']
    x1 = torch.randn(B, 3, CFG['img_size'], CFG['img_size'], generator=gen,
                     dtype=torch.float64)
    x2 = torch.randn(x1.shape, generator=gen, dtype=torch.float64)
    mask = torch.zeros(B, g * g, dtype=torch.bool)
    for b in range(B):
        idx = torch.randperm(g * g, generator=gen)[:CFG['num_masked']]
        mask[b, idx] = True
    u = torch.rand(B, 4, generator=gen, dtype=torch.float64)
    rel_pos = torch.stack([
        u[:, 0] - 0.5, u[:, 1] - 0.4, 0.5 + 1.5 * u[:, 2],
        0.6 + 1.2 * u[:, 3],
        torch.tensor([0., 1., 0.], dtype=torch.float64),
        torch.rand(B, generator=gen, dtype=torch.float64) + 0.3], dim=1)
    return dict(x1=x1, x2=x2, mask=mask.view(B, g, g), rel_pos=rel_pos)


class _Float64Torch(types.ModuleType):
    """``torch`` as seen by the relative embedding: float32 means float64."""
    float32 = torch.float64

    def __getattr__(self, name):
        return getattr(torch, name)


@contextlib.contextmanager
def exact_float64(pos_embed):
    float_ = torch.Tensor.float
    torch.Tensor.float = lambda self, *a, **k: (
        self if self.dtype == torch.float64 else float_(self, *a, **k))
    pos_embed.torch = _Float64Torch('torch')
    try:
        yield
    finally:
        torch.Tensor.float = float_
        pos_embed.torch = torch


def run(model, inputs, dtype):
    model = model.to(dtype).train()
    x1, x2 = inputs['x1'].to(dtype), inputs['x2'].to(dtype)
    rel = inputs['rel_pos'].to(dtype)
    rel_pos = (rel[:, 0], rel[:, 1], rel[:, 2], rel[:, 3], rel[:, 4] > 0.5,
               rel[:, 5])
    seen = {}

    def keep(name):
        def hook(mod, args, out):
            seen[name] = out.detach().clone()
        return hook

    handles = [
        model.blocks[-1].register_forward_hook(keep('online_encoder')),
        model.mm_blocks[-1].register_forward_hook(keep('target_encoder')),
        model.decoder_pred.register_forward_hook(keep('decoder_pred')),
        model.mm_projector_decoder_blocks[-1].register_forward_hook(
            keep('target_projector')),
    ]
    model.zero_grad()
    loss, _ = model(x1, x2, rel_pos, CFG['momentum'], True,
                    mask=inputs['mask'])
    loss.backward()
    for h in handles:
        h.remove()
    g2 = (CFG['img_size'] // CFG['patch_size'])**2
    pred = seen['decoder_pred'][:, -g2:]
    target = seen['target_projector'][:, 1:]
    leaf = pred.clone().requires_grad_()
    loss_leaf = model.compute_unigrad_loss(leaf, target)
    loss_leaf.backward()
    out = dict(loss=loss.detach(), pred=pred, target=target,
               online_encoder=seen['online_encoder'],
               target_encoder=seen['target_encoder'],
               loss_from_pred=loss_leaf.detach(), grad_pred=leaf.grad)
    out['grads'] = {n: p.grad.clone() for n, p in model.named_parameters()
                    if p.grad is not None}
    out['momentum_after'] = {n: t.detach().clone()
                             for n, t in model.state_dict().items()
                             if n.startswith('mm_')}
    # the online encoder on the whole of view 2 (nothing masked, no update)
    hook = model.blocks[-1].register_forward_hook(keep('full_encoder'))
    with torch.no_grad():
        model(x2, x2, rel_pos, CFG['momentum'], False,
              mask=torch.zeros_like(inputs['mask']))
    hook.remove()
    out['full_encoder'] = seen['full_encoder']
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('official', help='Siamese-Image-Modeling checkout')
    parser.add_argument('--out', default=str(ROOT /
                                             'tests/data/official/sim.pt'))
    args = parser.parse_args()
    models_sim, pos_embed = import_official(Path(args.official).resolve())
    os.environ.setdefault('MASTER_ADDR', '127.0.0.1')
    os.environ.setdefault('MASTER_PORT', '29533')
    torch.distributed.init_process_group('gloo', rank=0, world_size=1)

    torch.manual_seed(0)
    model = build(models_sim).double()
    gen = torch.Generator().manual_seed(0)
    randomise(model, gen)
    g = CFG['img_size'] // CFG['patch_size']
    table = pos_embed.get_2d_sincos_pos_embed(CFG['decoder_embed_dims'], g,
                                              cls_token=True)
    model.decoder_pos_embed.data.copy_(torch.from_numpy(table)[None])
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    inputs = make_inputs(gen)

    with exact_float64(pos_embed):
        fp64 = run(model, inputs, torch.float64)
    model.load_state_dict(state)
    fp32 = run(model.float(), inputs, torch.float32)
    fp32 = {k: fp32[k] for k in ('loss', 'pred', 'target', 'online_encoder',
                                 'target_encoder', 'full_encoder')}
    torch.distributed.destroy_process_group()
    pairs = views(import_augmentation())
    torch.save(dict(official=f'OpenGVLab/Siamese-Image-Modeling @ '
                    f'{OFFICIAL_COMMIT}, models_sim.SiameseIMViT, '
                    'main_pretrain.DataAugmentationForSIM',
                    config=CFG, state_dict=state, inputs=inputs, fp64=fp64,
                    fp32=fp32, views=pairs), args.out)
    print(f"loss fp64 {float(fp64['loss']):.8f} fp32 {float(fp32['loss']):.8f}"
          f", {len(fp64['grads'])} gradients; wrote {args.out}")


if __name__ == '__main__':
    main()
