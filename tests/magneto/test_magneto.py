"""Magneto ViT: the gamma init in closed form, Sub-LN positions, activation
statistics over depth, shapes, gradients and one training step of each
tiny config."""
import math

import pytest
import torch
import torch.nn.functional as F

from projects.magneto import MagnetoViT, magneto_gamma


def tiny_arch(depth, dims=32, ffn=64):
    return dict(embed_dims=dims, num_layers=depth, num_heads=2,
                feedforward_channels=ffn)


def tiny_model(depth=2, dtype=torch.float64, seed=0, **kwargs):
    torch.manual_seed(seed)
    kwargs.setdefault('out_type', 'raw')
    return MagnetoViT(arch=tiny_arch(depth), img_size=32, patch_size=8,
                      **kwargs).to(dtype)


def test_gamma_closed_form():
    # encoder: sqrt(log 2N); encoder-decoder: sqrt(log 3M log 2N / 3)
    assert magneto_gamma(1) == pytest.approx(0.8325546, abs=1e-7)
    assert magneto_gamma(12) == pytest.approx(1.7827097, abs=1e-7)
    assert magneto_gamma(24) == pytest.approx(1.9675368, abs=1e-7)
    assert magneto_gamma(6, 6) == pytest.approx(
        math.sqrt(math.log(18) * math.log(12) / 3))
    with pytest.raises(ValueError, match='num_layers must be >= 1'):
        magneto_gamma(0)


@pytest.mark.parametrize('depth', [1, 4, 12])
def test_init_scales_exactly_v_out_fc1_fc2(depth):
    scaled = tiny_model(depth, torch.float32)
    plain = tiny_model(depth, torch.float32, init_gamma=None)
    assert scaled.gamma == pytest.approx(math.sqrt(math.log(2 * depth)))
    names = {n for n, _ in scaled.gamma_scaled_parameters()}
    assert len(names) == 8 * depth  # weight + bias of 4 linears per layer
    ref = dict(plain.named_parameters())
    for name, p in scaled.named_parameters():
        key = name[len('layers.'):] if name.startswith('layers.') else None
        factor = scaled.gamma if key in names else 1.0
        if key in names:
            assert any(g in name for g in ('v_proj', 'out_proj', 'fc1',
                                           'fc2')), name
        torch.testing.assert_close(p, factor * ref[name], rtol=0, atol=0)
    # init_weights (as the runner calls it) reproduces the same scaling
    w = scaled.layers[0].ffn.fc1.weight
    scaled.init_weights()
    assert w.std().item() == pytest.approx(0.02 * scaled.gamma, rel=0.2)
    assert scaled.layers[0].attn.q_proj.weight.std().item() == \
        pytest.approx(0.02, rel=0.2)


def test_sub_ln_positions_match_the_formula():
    model = tiny_model(1)
    layer = model.layers[0]
    for p in layer.parameters():  # non-trivial norms and biases
        p.data.add_(0.1 * torch.randn_like(p))
    x = torch.randn(2, 5, 32, dtype=torch.float64)

    def ln(t, m):
        return F.layer_norm(t, t.shape[-1:], m.weight, m.bias, m.eps)

    a = layer.attn
    h = ln(x, layer.ln1)
    q, k, v = (F.linear(h, m.weight, m.bias).reshape(2, 5, 2, 16)
               .transpose(1, 2) for m in (a.q_proj, a.k_proj, a.v_proj))
    att = ((q @ k.transpose(-2, -1)) / 4).softmax(-1) @ v
    att = att.transpose(1, 2).reshape(2, 5, 32)
    # Sub-LN: LN between the attention and out_proj
    y = x + F.linear(ln(att, a.inner_ln), a.out_proj.weight, a.out_proj.bias)
    f = layer.ffn
    h = F.gelu(F.linear(ln(y, layer.ln2), f.fc1.weight, f.fc1.bias))
    # Sub-LN: LN between the activation and fc2
    y = y + F.linear(ln(h, f.ffn_ln), f.fc2.weight, f.fc2.bias)
    torch.testing.assert_close(layer(x), y, rtol=0, atol=1e-12)
    # the Pre-LN baseline has exactly the two inner norms less per layer
    pre_ln = tiny_model(3, subln=False)
    sub_ln = tiny_model(3)
    n_pre = sum(p.numel() for p in pre_ln.parameters())
    n_sub = sum(p.numel() for p in sub_ln.parameters())
    assert n_sub - n_pre == 3 * 2 * (32 + 64)


@pytest.mark.parametrize('depth', [2, 8, 32])
def test_activation_statistics_follow_depth_closed_form(depth):
    """Each sublayer adds an update of RMS gamma * 0.02 * sqrt(fan_in) (a
    unit-variance Sub-LN output times the scaled weights), independent of
    the layer index, so the residual stream grows as
    sqrt(x0^2 + N (u_attn^2 + u_ffn^2)) and the output stays unit RMS."""
    torch.manual_seed(depth)
    dims, ffn = 64, 128
    model = MagnetoViT(arch=tiny_arch(depth, dims, ffn), img_size=32,
                       patch_size=8, out_type='raw').double()
    updates = {'attn': [], 'ffn': []}
    for layer in model.layers:
        for kind in updates:
            getattr(layer, kind).register_forward_hook(
                lambda m, i, o, kind=kind: updates[kind].append(
                    o.square().mean().sqrt().item()))
    stream = []
    model.layers[0].register_forward_pre_hook(
        lambda m, i: stream.append(i[0].square().mean().sqrt().item()))
    model.layers[-1].register_forward_hook(
        lambda m, i, o: stream.append(o.square().mean().sqrt().item()))
    out = model(torch.randn(4, 3, 32, 32, dtype=torch.float64))[0]

    u_attn = magneto_gamma(depth) * 0.02 * math.sqrt(dims)
    u_ffn = magneto_gamma(depth) * 0.02 * math.sqrt(ffn)
    for kind, pred in (('attn', u_attn), ('ffn', u_ffn)):
        ratios = torch.tensor(updates[kind]) / pred
        assert len(ratios) == depth
        assert 0.8 < ratios.min() and ratios.max() < 1.2, (kind, ratios)
    x0, x_n = stream
    pred = math.sqrt(x0**2 + depth * (u_attn**2 + u_ffn**2))
    assert x_n / pred == pytest.approx(1.0, abs=0.1)
    assert out.square().mean().sqrt().item() == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize('arch,dims,depth', [('base', 768, 12),
                                             ('large', 1024, 24)])
def test_output_shapes_per_variant(arch, dims, depth):
    with torch.device('meta'):
        model = MagnetoViT(arch=arch, out_type='featmap',
                           out_indices=(-2, -1))
    outs = model(torch.empty(2, 3, 224, 224, device='meta'))
    assert [tuple(o.shape) for o in outs] == [(2, dims, 14, 14)] * 2
    assert model.num_layers == len(model.layers) == depth
    assert model.gamma == pytest.approx(math.sqrt(math.log(2 * depth)))


def test_outputs_errors_and_gradients():
    model = tiny_model(2, torch.float32, out_type='featmap')
    # other multiples of the patch size interpolate the position embedding
    assert model(torch.randn(1, 3, 24, 56))[0].shape == (1, 32, 3, 7)
    model.out_type = 'cls_token'
    assert model(torch.randn(2, 3, 32, 32))[-1].shape == (2, 32)
    model.out_type = 'featmap'
    with pytest.raises(ValueError, match=r'not a multiple of the patch size '
                       r'8; .*\(e\.g\. 32x40'):
        model(torch.randn(1, 3, 30, 33))
    with pytest.raises(ValueError, match=r"choose one of \['b', 'base', "
                       r"'l', 'large'\]"):
        MagnetoViT(arch='huge')
    with pytest.raises(ValueError, match='init_gamma'):
        MagnetoViT(arch=tiny_arch(2), init_gamma='deepnorm')
    x = torch.randn(2, 3, 32, 32, requires_grad=True)
    model(x)[0].square().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
    assert x.grad.abs().sum() > 0


@pytest.mark.parametrize('config,root', [
    ('magneto-vit_tiny_1xb8-100it_synthetic-imagenet.py', 'imagenet_root'),
    ('retinanet_magneto-vit_simple-fpn_tiny_1xb4-100it_synthetic-coco.py',
     'coco_root'),
    ('upernet_magneto-vit_simple-fpn_tiny_1xb4-100it_synthetic-ade20k.py',
     'ade20k_root'),
])
def test_tiny_config_trains_one_step(config, root, request, tmp_path):
    from zoo_steps import train_steps
    # a visualizer name of its own: mmengine reuses instances by name, and
    # a reused one would log into another test's work_dir
    rows = train_steps(f'configs/magneto/{config}',
                       request.getfixturevalue(root), tmp_path, iters=1,
                       cfg_options={'visualizer.name': tmp_path.name})
    losses = {k: v for k, v in rows[-1].items() if 'loss' in k}
    assert losses and all(math.isfinite(v) for v in losses.values())
    parts = [v for k, v in losses.items() if k != 'loss']
    if parts:  # det / seg: the total is the sum of the logged terms
        assert rows[-1]['loss'] == pytest.approx(sum(parts), rel=1e-5)
    else:  # cls: cross-entropy of 1000 classes at init is about log(1000)
        assert rows[-1]['loss'] == pytest.approx(math.log(1000), rel=0.1)
