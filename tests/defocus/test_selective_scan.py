"""The parallel selective scan equals the naive sequential loop (values and
gradients), plus causality, big decays and the causal conv."""
import pytest
import torch
import torch.nn.functional as F

from projects.defocus import (causal_conv1d, linear_scan, plan_chunks,
                              selective_scan, selective_scan_ref)


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


def _grads(out, last, inputs, seed=1):
    g = torch.Generator().manual_seed(seed)
    w_out = torch.randn(out.shape, generator=g, dtype=torch.float64)
    w_last = torch.randn(last.shape, generator=g, dtype=torch.float64)
    w_out, w_last = w_out.to(out.dtype), w_last.to(out.dtype)
    return torch.autograd.grad((out * w_out).sum() + (last * w_last).sum(),
                               inputs)


@pytest.mark.parametrize('length,chunk_size', [
    (1, None), (1, 4), (12, 4), (12, 1), (13, 4), (13, 3), (13, 32),
    (40, None)])
def test_chunk_sizes_dividing_or_not(length, chunk_size):
    # float64, every option on: the chunked forward and the hand-written
    # backward equal the loop whatever the chunk length and padding
    ins = [t.requires_grad_() for t in make_inputs(length, torch.float64)]
    kw = dict(D=ins[5], z=ins[6], delta_bias=ins[7], delta_softplus=True,
              return_last_state=True)
    out, last = selective_scan(*ins[:5], **kw, impl='parallel',
                               chunk_size=chunk_size)
    ref, ref_last = selective_scan_ref(*ins[:5], **kw)
    assert torch.allclose(out, ref, rtol=0, atol=1e-12)
    assert torch.allclose(last, ref_last, rtol=0, atol=1e-12)
    for gr, rg in zip(_grads(out, last, ins), _grads(ref, ref_last, ins)):
        assert torch.allclose(gr, rg, rtol=0, atol=1e-11)


def test_gradcheck_chunks_not_dividing_and_last_state():
    ins = [t.requires_grad_() for t in make_inputs(7, torch.float64,
                                                   batch=2, dim=2, state=2)]

    def fn(*args):
        out, last = selective_scan(*args[:5], D=args[5], z=args[6],
                                   delta_bias=args[7], delta_softplus=True,
                                   return_last_state=True, impl='parallel',
                                   chunk_size=3)
        return out, last

    assert torch.autograd.gradcheck(fn, ins)


def test_gradient_through_last_state_only():
    # grad_out is None in backward: only the final state is used
    ins = [t.requires_grad_() for t in make_inputs(10, torch.float64)[:5]]
    _, last = selective_scan(*ins, return_last_state=True, impl='parallel',
                             chunk_size=4)
    _, ref_last = selective_scan_ref(*ins, return_last_state=True)
    grads = torch.autograd.grad(last.sum(), ins)
    ref_grads = torch.autograd.grad(ref_last.sum(), ins[:4])  # C unused
    for gr, rg in zip(grads, ref_grads):
        assert torch.allclose(gr, rg, rtol=0, atol=1e-12)
    assert torch.equal(grads[4], torch.zeros_like(ins[4]))


@pytest.mark.parametrize('dtype,tol', [(torch.float32, 1e-5),
                                       (torch.float64, 1e-12)])
def test_very_negative_A_decays_underflow(dtype, tol):
    # |A| up to 1e4: single-step decays exp(-1e3) underflow to 0 in the loop;
    # the chunked scan clamps them (chunks of 1-2 tokens), stays finite and
    # equal, gradients included
    ins = make_inputs(20, torch.float64)
    ins[2] = ins[2] * 1000.0
    ins = [t.to(dtype).requires_grad_() for t in ins[:5]]
    assert plan_chunks(ins[1].detach(), ins[2].detach(), 16)[1] is not None
    out, last = selective_scan(*ins, return_last_state=True,
                               impl='parallel', chunk_size=16)
    ref, ref_last = selective_scan_ref(*ins, return_last_state=True)
    assert torch.isfinite(out).all()
    assert float((out - ref).abs().max() / ref.abs().max()) < tol
    for gr, rg in zip(_grads(out, last, ins), _grads(ref, ref_last, ins)):
        assert torch.isfinite(gr).all()
        assert float((gr - rg).abs().max()) < 10 * tol * max(
            float(rg.abs().max()), 1.0)


def test_long_sequence_float32_stays_exact():
    # 1000 tokens with slow decays (the state carries information across
    # many chunks): float32 output and gradients within 1e-5 of the float64
    # loop
    ins64 = make_inputs(1000, torch.float64, batch=1, dim=3, state=4,
                        step_scale=0.02)
    ins32 = [t.float().requires_grad_() for t in ins64[:5]]
    ins64 = [t.requires_grad_() for t in ins64[:5]]
    out, last = selective_scan(*ins32, return_last_state=True,
                               impl='parallel')
    ref, ref_last = selective_scan_ref(*ins64, return_last_state=True)
    assert float((out.double() - ref).abs().max() / ref.abs().max()) < 1e-5
    for gr, rg in zip(_grads(out, last, ins32), _grads(ref, ref_last, ins64)):
        err = float((gr.double() - rg).abs().max() / rg.abs().max())
        assert err < 1e-5


def test_plan_chunks_sizes_and_errors():
    dt = torch.full((1, 1536, 196), 0.01)
    A = -torch.arange(1., 17.)[None].repeat(1536, 1)
    # auto: the largest power of two whose [T, b, N, E] block has <= 2^18
    # elements (8 * 16 * 1536 = 196608), capped at 32 for narrow widths
    assert plan_chunks(dt, A) == (8, None)
    assert plan_chunks(dt[:, :64], A[:64]) == (32, None)
    assert plan_chunks(dt, A, 5) == (5, None)
    assert plan_chunks(dt[..., :3], A, 16) == (3, None)
    # decays spanning more than e^60 per chunk halve it: 16 * 1 * 16 > 60
    assert plan_chunks(torch.ones(1, 2, 64), -torch.full((2, 3), 16.),
                       16) == (2, None)
    with pytest.raises(ValueError, match='overflows'):
        plan_chunks(torch.ones(1, 2, 4), torch.full((2, 3), 40.))
    with pytest.raises(ValueError, match='chunk_size'):
        plan_chunks(dt, A, 0)
