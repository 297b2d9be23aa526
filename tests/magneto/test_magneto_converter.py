"""torchscale Sub-LN encoder checkpoints -> MagnetoViT: every key consumed,
none missing, same outputs as torchscale's forward, round trip."""
import importlib.util
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from projects.magneto import MagnetoViT

ROOT = Path(__file__).resolve().parents[2]
DIMS, HEADS, FFN, DEPTH, PATCH = 32, 2, 64, 2, 8
PREFIX = 'encoder.'


def load_tool():
    path = ROOT / 'tools/model_converters/magneto_to_visionplug.py'
    spec = importlib.util.spec_from_file_location('magneto_converter', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def official_state_dict(num_classes=5, seed=0):
    """Random weights in torchscale's Encoder layout (vision embedding with
    a cls token, fairseq-offset positions, Sub-LN layers, output LN)."""
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape, scale=0.2):
        return torch.randn(*shape, generator=g, dtype=torch.float64) * scale

    p = PREFIX
    sd = {p + 'embed_tokens.proj.weight': rnd(DIMS, 3, PATCH, PATCH,
                                              scale=0.05),
          p + 'embed_tokens.proj.bias': rnd(DIMS),
          p + 'embed_tokens.cls_token': rnd(1, 1, DIMS),
          p + 'embed_positions.weight': rnd(17 + 2, DIMS)}

    def linear(name, n_out, n_in):
        sd[name + '.weight'] = rnd(n_out, n_in)
        sd[name + '.bias'] = rnd(n_out)

    def norm(name, n):
        sd[name + '.weight'] = 1 + rnd(n)
        sd[name + '.bias'] = rnd(n)

    for i in range(DEPTH):
        q = f'{p}layers.{i}.'
        for proj in ('q_proj', 'k_proj', 'v_proj', 'out_proj'):
            linear(q + 'self_attn.' + proj, DIMS, DIMS)
        norm(q + 'self_attn.inner_attn_ln', DIMS)
        norm(q + 'self_attn_layer_norm', DIMS)
        linear(q + 'ffn.fc1', FFN, DIMS)
        linear(q + 'ffn.fc2', DIMS, FFN)
        norm(q + 'ffn.ffn_layernorm', FFN)
        norm(q + 'final_layer_norm', DIMS)
    norm(p + 'layer_norm', DIMS)
    linear('head', num_classes, DIMS)
    return sd


def torchscale_forward(img, sd):
    """torchscale's Encoder forward (subln=True, normalize_before, no
    embedding scale) written from its formulas."""
    p = PREFIX

    def ln(x, name):
        return F.layer_norm(x, x.shape[-1:], sd[name + '.weight'],
                            sd[name + '.bias'], 1e-5)

    def lin(x, name):
        return F.linear(x, sd[name + '.weight'], sd[name + '.bias'])

    x = F.conv2d(img, sd[p + 'embed_tokens.proj.weight'],
                 sd[p + 'embed_tokens.proj.bias'], stride=PATCH)
    x = x.flatten(2).transpose(1, 2)
    x = torch.cat([sd[p + 'embed_tokens.cls_token'].expand(len(x), -1, -1),
                   x], 1)
    B, L, C = x.shape
    x = x + sd[p + 'embed_positions.weight'][2:2 + L]  # positions 2..L+1
    for i in range(DEPTH):
        q = f'{p}layers.{i}.'
        h = ln(x, q + 'self_attn_layer_norm')

        def heads(t):
            return t.view(B, L, HEADS, C // HEADS).transpose(1, 2)

        qh = heads(lin(h, q + 'self_attn.q_proj') * (C // HEADS)**-0.5)
        kh, vh = heads(lin(h, q + 'self_attn.k_proj')), \
            heads(lin(h, q + 'self_attn.v_proj'))
        att = (qh @ kh.transpose(-2, -1)).softmax(-1) @ vh
        att = att.transpose(1, 2).reshape(B, L, C)
        att = lin(ln(att, q + 'self_attn.inner_attn_ln'),
                  q + 'self_attn.out_proj')
        x = x + att
        h = F.gelu(lin(ln(x, q + 'final_layer_norm'), q + 'ffn.fc1'))
        x = x + lin(ln(h, q + 'ffn.ffn_layernorm'), q + 'ffn.fc2')
    return ln(x, p + 'layer_norm')


def test_convert_loads_strictly_and_matches_torchscale_forward():
    tool = load_tool()
    sd = official_state_dict()
    converted = tool.convert(sd)
    model = MagnetoViT(arch=dict(embed_dims=DIMS, num_layers=DEPTH,
                                 num_heads=HEADS, feedforward_channels=FFN),
                       img_size=32, patch_size=PATCH, out_type='raw')
    backbone = {k[len('backbone.'):]: v for k, v in converted.items()
                if k.startswith('backbone.')}
    result = model.double().load_state_dict(backbone, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert set(converted) - {'backbone.' + k for k in backbone} == \
        {'head.fc.weight', 'head.fc.bias'}
    model.eval()
    img = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    torch.testing.assert_close(model(img)[0], torchscale_forward(img, sd))


def test_round_trip_prefixes_and_errors():
    tool = load_tool()
    sd = official_state_dict()
    back = tool.to_official(tool.convert(sd), prefix=PREFIX)
    assert back.keys() == sd.keys()
    pos = PREFIX + 'embed_positions.weight'
    for key in sd:
        if key == pos:  # the two fairseq offset rows are unused
            assert torch.equal(back[key][2:], sd[key][2:])
            assert not back[key][:2].any()
        else:
            assert torch.equal(back[key], sd[key]), key
    bare = {k[len(PREFIX):] if k.startswith(PREFIX) else k: v
            for k, v in sd.items()}
    assert tool.convert(bare).keys() == tool.convert(sd).keys()
    with pytest.raises(KeyError, match='output_projection'):
        tool.convert(dict(sd, **{PREFIX + 'output_projection.weight':
                                 torch.zeros(3, DIMS)}))
    with pytest.raises(ValueError, match='not a square patch grid'):
        tool.convert(dict(sd, **{pos: torch.zeros(20, DIMS)}))


def test_cli_uses_weights_only(tmp_path, exploit_checkpoint):
    tool = load_tool()
    src, dst = tmp_path / 'torchscale.pt', tmp_path / 'out.pth'
    torch.save({'model': official_state_dict()}, src)
    tool.main([str(src), str(dst)])
    out = torch.load(dst, weights_only=True)['state_dict']
    assert out['backbone.pos_embed'].shape == (1, 17, DIMS)
    evil, marker = exploit_checkpoint
    with pytest.raises(SystemExit, match='refused'):
        tool.main([str(evil), str(tmp_path / 'x.pth')])
    assert not marker.exists()
