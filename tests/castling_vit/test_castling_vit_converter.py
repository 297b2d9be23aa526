"""DeiT-layout Castling-ViT checkpoints -> CastlingViT: every key consumed,
none missing, same outputs as the released attention, round trip."""
import importlib.util
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from projects.castling_vit import CastlingViT

ROOT = Path(__file__).resolve().parents[2]
DIMS, HEADS, FFN, DEPTH, PATCH, KERNEL = 32, 2, 64, 2, 8, 9


def load_tool():
    path = ROOT / 'tools/model_converters/castling_vit_to_visionplug.py'
    spec = importlib.util.spec_from_file_location('castling_converter', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def official_state_dict(num_classes=5, seed=0):
    """Random weights in the DeiT layout with the release's attention."""
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape, scale=0.2):
        return torch.randn(*shape, generator=g, dtype=torch.float64) * scale

    sd = {'cls_token': rnd(1, 1, DIMS), 'pos_embed': rnd(1, 17, DIMS),
          'patch_embed.proj.weight': rnd(DIMS, 3, PATCH, PATCH, scale=0.05),
          'patch_embed.proj.bias': rnd(DIMS)}
    for i in range(DEPTH):
        p = f'blocks.{i}.'
        for norm in ('norm1', 'norm2'):
            sd[p + norm + '.weight'] = 1 + rnd(DIMS)
            sd[p + norm + '.bias'] = rnd(DIMS)
        sd[p + 'attn.qkv.weight'] = rnd(3 * DIMS, DIMS)
        sd[p + 'attn.qkv.bias'] = rnd(3 * DIMS)
        sd[p + 'attn.proj.weight'] = rnd(DIMS, DIMS)
        sd[p + 'attn.proj.bias'] = rnd(DIMS)
        sd[p + 'attn.dconv.weight'] = rnd(HEADS, 1, KERNEL, 1)
        sd[p + 'mlp.fc1.weight'] = rnd(FFN, DIMS)
        sd[p + 'mlp.fc1.bias'] = rnd(FFN)
        sd[p + 'mlp.fc2.weight'] = rnd(DIMS, FFN)
        sd[p + 'mlp.fc2.bias'] = rnd(DIMS)
    sd.update({'norm.weight': 1 + rnd(DIMS), 'norm.bias': rnd(DIMS),
               'head.weight': rnd(num_classes, DIMS),
               'head.bias': rnd(num_classes)})
    return sd


def reference_forward(img, sd, sparse_reg):
    """DeiT forward with the released LinAngularAttention, written from
    the release's formulas (q/k normalised, 0.5 v + Q(K^T V)/pi, optional
    thresholded softmax, output normalised, + dconv(v))."""
    def ln(x, name):
        return F.layer_norm(x, (DIMS, ), sd[name + '.weight'],
                            sd[name + '.bias'], 1e-6)

    x = F.conv2d(img, sd['patch_embed.proj.weight'],
                 sd['patch_embed.proj.bias'], stride=PATCH)
    x = x.flatten(2).transpose(1, 2)
    x = torch.cat([sd['cls_token'].expand(len(x), -1, -1), x], 1)
    x = x + sd['pos_embed']
    N, L, C = x.shape
    for i in range(DEPTH):
        p = f'blocks.{i}.'
        h = F.linear(ln(x, p + 'norm1'), sd[p + 'attn.qkv.weight'],
                     sd[p + 'attn.qkv.bias'])
        q, k, v = h.reshape(N, L, 3, HEADS, C // HEADS).permute(
            2, 0, 3, 1, 4).unbind(0)
        out = 0.5 * v
        if sparse_reg:
            attn = (q * (C // HEADS)**-0.5 @ k.transpose(-2, -1)).softmax(-1)
            out = out + ((attn > 0.02) * attn) @ v
        q = q / q.norm(dim=-1, keepdim=True)
        k = k / k.norm(dim=-1, keepdim=True)
        out = out + 1.0 / math.pi * (q @ (k.transpose(-2, -1) @ v))
        out = out / out.norm(dim=-1, keepdim=True)
        out = out + F.conv2d(v, sd[p + 'attn.dconv.weight'],
                             padding=(KERNEL // 2, 0), groups=HEADS)
        out = out.transpose(1, 2).reshape(N, L, C)
        x = x + F.linear(out, sd[p + 'attn.proj.weight'],
                         sd[p + 'attn.proj.bias'])
        h = F.gelu(F.linear(ln(x, p + 'norm2'), sd[p + 'mlp.fc1.weight'],
                            sd[p + 'mlp.fc1.bias']))
        x = x + F.linear(h, sd[p + 'mlp.fc2.weight'], sd[p + 'mlp.fc2.bias'])
    return ln(x, 'norm')


def test_convert_loads_strictly_and_matches_release_forward():
    tool = load_tool()
    sd = official_state_dict()
    converted = tool.convert(sd, aux_mask=1.0)
    model = CastlingViT(arch=dict(embed_dims=DIMS, num_layers=DEPTH,
                                  num_heads=HEADS, feedforward_channels=FFN),
                        img_size=32, patch_size=PATCH, out_type='raw')
    backbone = {k[len('backbone.'):]: v for k, v in converted.items()
                if k.startswith('backbone.')}
    result = model.double().load_state_dict(backbone, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert set(converted) - {'backbone.' + k for k in backbone} == \
        {'head.fc.weight', 'head.fc.bias'}
    img = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    model.train()  # auxiliary branch on, mask 1 == release sparse_reg=True
    torch.testing.assert_close(model(img)[0], reference_forward(img, sd, True))
    model.eval()  # castled: linear branch only == sparse_reg=False
    torch.testing.assert_close(model(img)[0],
                               reference_forward(img, sd, False))


def test_round_trip_and_unknown_keys():
    tool = load_tool()
    sd = official_state_dict()
    back = tool.to_official(tool.convert(sd))
    assert back.keys() == sd.keys()
    assert all(torch.equal(back[k], sd[k]) for k in sd)
    no_aux = tool.convert(sd, aux_mask=None)
    assert not any(k.endswith('aux_mask') for k in no_aux)
    with pytest.raises(KeyError, match=r"dist_token"):
        tool.convert(dict(sd, dist_token=torch.zeros(1, 1, DIMS)))


def test_cli_uses_weights_only(tmp_path, exploit_checkpoint):
    tool = load_tool()
    src, dst = tmp_path / 'deit.pth', tmp_path / 'out.pth'
    torch.save({'model': official_state_dict()}, src)
    tool.main([str(src), str(dst), '--aux-mask', '0'])
    out = torch.load(dst, weights_only=True)['state_dict']
    assert torch.equal(out['backbone.layers.1.attn.aux_mask'],
                       torch.zeros(HEADS))
    evil, marker = exploit_checkpoint
    with pytest.raises(SystemExit, match='refused'):
        tool.main([str(evil), str(tmp_path / 'x.pth')])
    assert not marker.exists()
