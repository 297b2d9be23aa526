"""The parallel selective scan equals the naive sequential loop (values and
gradients), plus causality, big decays and the causal conv."""
import pytest
import torch
import torch.nn.functional as F

from projects.defocus import (causal_conv1d, linear_scan, selective_scan,
                              selective_scan_ref)


def make_inputs(length, dtype, batch=2, dim=6, state=8, seed=0,
                step_scale=0.3):
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    u = rnd(batch, dim, length)
    delta = torch.rand(batch, dim, length, generator=g,
                       dtype=torch.float64) * step_scale + 0.01
    A = -torch.arange(1, state + 1, dtype=torch.float64)[None].repeat(
        dim, 1) * (0.5 + torch.rand(dim, 1, generator=g, dtype=torch.float64))
    B, C = rnd(batch, state, length), rnd(batch, state, length)
    D, z, bias = rnd(dim), rnd(batch, dim, length), 0.3 * rnd(dim)
    return [t.to(dtype) for t in (u, delta, A, B, C, D, z, bias)]


OPTIONS = {
    # the official De-focus call: softplus applied outside, no D / z / bias
    'official': dict(),
    'all': dict(D=5, z=6, delta_bias=7, delta_softplus=True),
    'D_only': dict(D=5),
    'z_softplus': dict(z=6, delta_softplus=True),
}


@pytest.mark.parametrize('dtype,tol', [(torch.float64, 1e-12),
                                       (torch.float32, 1e-5)])
@pytest.mark.parametrize('length', [1, 13, 64, 197])
@pytest.mark.parametrize('option', sorted(OPTIONS))
def test_scan_and_gradients_match_sequential(dtype, tol, length, option):
    ins = [t.requires_grad_() for t in make_inputs(length, dtype)]
    kw = {k: (v if isinstance(v, bool) else ins[v])
          for k, v in OPTIONS[option].items()}
    used = ins[:5] + [ins[v] for v in OPTIONS[option].values()
                      if not isinstance(v, bool)]
    out, last = selective_scan(*ins[:5], **kw, return_last_state=True,
                               impl='parallel', chunk_size=8)
    ref, ref_last = selective_scan_ref(*ins[:5], **kw, return_last_state=True)
    scale = ref.abs().max()
    assert ((out - ref).abs().max() / scale) < tol
    assert ((last - ref_last).abs().max() / ref_last.abs().max()) < tol
    g = torch.Generator().manual_seed(1)
    w_out = torch.randn(ref.shape, generator=g, dtype=dtype)
    w_last = torch.randn(ref_last.shape, generator=g, dtype=dtype)
    grads = torch.autograd.grad((out * w_out).sum() + (last * w_last).sum(),
                                used)
    ref_grads = torch.autograd.grad(
        (ref * w_out).sum() + (ref_last * w_last).sum(), used)
    for gr, rg in zip(grads, ref_grads):
        scale = max(float(rg.abs().max()), 1.0)
        assert float((gr - rg).abs().max()) < 10 * tol * scale


def test_gradcheck_float64():
    ins = [t.requires_grad_() for t in make_inputs(11, torch.float64,
                                                   batch=1, dim=2, state=4)]

    def fn(*args):
        return selective_scan(*args[:5], D=args[5], z=args[6],
                              delta_bias=args[7], delta_softplus=True,
                              impl='parallel', chunk_size=4)

    assert torch.autograd.gradcheck(fn, ins)


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_large_decays_and_chunk_halving(dtype):
    # step sizes up to 8 with |A| up to 12: single-step log-decays below
    # -50, so chunks are halved and tiny decays clamped below precision
    ins = make_inputs(50, dtype, step_scale=8.0)
    out = selective_scan(*ins[:5], impl='parallel', chunk_size=16)
    ref = selective_scan_ref(*ins[:5])
    assert torch.isfinite(out).all()
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    assert ((out - ref).abs().max() / ref.abs().max()) < tol


def test_linear_scan_general_recurrence_and_growth_error():
    g = torch.Generator().manual_seed(0)
    log_a = torch.randn(3, 40, generator=g, dtype=torch.float64) - 1
    b = torch.randn(3, 40, generator=g, dtype=torch.float64)
    h, state = linear_scan(log_a, b, chunk_size=4), torch.zeros(3,
                                                                dtype=b.dtype)
    for t in range(40):
        state = torch.exp(log_a[:, t]) * state + b[:, t]
        assert torch.allclose(h[:, t], state, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match='overflows'):
        linear_scan(torch.full((1, 4), 100.0), torch.ones(1, 4))


def test_scan_is_causal():
    ins = make_inputs(30, torch.float64)
    base = selective_scan(*ins[:5], impl='parallel', chunk_size=4)
    ins[0] = ins[0].clone()
    ins[0][:, :, 17] += 1.0
    moved = selective_scan(*ins[:5], impl='parallel', chunk_size=4)
    assert torch.equal(base[..., :17], moved[..., :17])
    assert not torch.allclose(base[..., 17:], moved[..., 17:])


def test_impl_dispatch_and_errors():
    ins = make_inputs(9, torch.float32)
    seq = selective_scan(*ins[:5], impl='sequential')
    assert torch.equal(seq, selective_scan_ref(*ins[:5]))
    with pytest.raises(RuntimeError, match='mamba_ssm'):
        selective_scan(*ins[:5], impl='cuda')  # CPU tensors
    with pytest.raises(ValueError, match='impl'):
        selective_scan(*ins[:5], impl='loop')
    with pytest.raises(ValueError, match=r'B, C \[batch, N, L\]'):
        selective_scan(ins[0], ins[1], ins[2], ins[3][:, None], ins[4])


def test_causal_conv1d_matches_padded_conv():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 5, 12, generator=g, dtype=torch.float64)
    conv = torch.nn.Conv1d(5, 5, 4, groups=5, padding=3).double()
    expected = F.silu(conv(x)[..., :12])  # the official fallback
    out = causal_conv1d(x, conv.weight, conv.bias, activation='silu')
    assert torch.allclose(out, expected, atol=1e-14)
    x2 = x.clone()
    x2[..., 7] += 1
    out2 = causal_conv1d(x2, conv.weight, conv.bias)
    assert torch.equal(out2[..., :7],
                       causal_conv1d(x, conv.weight, conv.bias)[..., :7])
