"""The Triton selective scan equals the sequential loop: outputs, last state
and every input gradient.

With CUDA the compiled kernels run in-process on the GPU. Without it,
``test_triton_kernels_under_interpreter`` reruns this file's kernel tests in
a subprocess with ``TRITON_INTERPRET=1`` in its environment from the start
(Triton reads it when a kernel is decorated), on CPU tensors.
"""
import importlib
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from projects.defocus import (default_chunk, resolve_scan_impl,
                              selective_scan, selective_scan_ref,
                              triton_available)

# the module (the package exports a function of the same name)
scan_module = importlib.import_module('projects.defocus.selective_scan')

INTERPRET = os.environ.get('TRITON_INTERPRET') == '1'
DEVICE = 'cuda' if torch.cuda.is_available() and not INTERPRET else 'cpu'
RUN_KERNELS = triton_available() and (DEVICE == 'cuda' or INTERPRET)
kernels = pytest.mark.skipif(
    not RUN_KERNELS, reason='needs CUDA; on CPU these run under '
    'TRITON_INTERPRET=1 in test_triton_kernels_under_interpreter')
TOL = {torch.float32: 1e-5, torch.float64: 1e-12}


def make_inputs(batch, dim, state, length, dtype, seed=0, step_scale=0.3):
    """u, delta, A, B, C, D, z, delta_bias rounded to ``dtype`` (CPU)."""
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    delta = torch.rand(batch, dim, length, generator=g,
                       dtype=torch.float64) * step_scale + 0.01
    A = -torch.arange(1, state + 1, dtype=torch.float64)[None].repeat(
        dim, 1) * (0.5 + torch.rand(dim, 1, generator=g, dtype=torch.float64))
    ins = (rnd(batch, dim, length), delta, A, rnd(batch, state, length),
           rnd(batch, state, length), rnd(dim), rnd(batch, dim, length),
           0.3 * rnd(dim))
    return [t.to(dtype) for t in ins]


OPTIONS = {
    # the official De-focus call: softplus outside, no D / z / bias
    'official': (),
    'all': ('D', 'z', 'delta_bias', 'delta_softplus'),
    'D_only': ('D',),
    'bias_no_softplus': ('delta_bias',),
    'z_softplus': ('z', 'delta_softplus'),
}
NAMES = ('u', 'delta', 'A', 'B', 'C', 'D', 'z', 'delta_bias')


def split(ins, option):
    """Positional (u, delta, A, B, C) and keyword arguments of ``option``."""
    kw = {k: True if k == 'delta_softplus' else ins[NAMES.index(k)]
          for k in OPTIONS[option]}
    return ins[:5], kw


def loss_weights(out, last, seed=1):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(out.shape, generator=g, dtype=torch.float64),
            torch.randn(last.shape, generator=g, dtype=torch.float64))


def compare(ins, option, chunk, dtype, grad_out=True):
    """Run the kernels on DEVICE and the float64 loop on CPU from the same
    (rounded) inputs; assert outputs and all gradients agree to TOL (the
    loss weighs the output, unless ``grad_out`` is False, and the last
    state)."""
    tol = TOL[dtype]
    dev = [t.to(DEVICE).requires_grad_() for t in ins]
    ref = [t.double().requires_grad_() for t in ins]
    args, kw = split(dev, option)
    out, last = scan_module._import_kernel('triton')(
        *args, **kw, return_last_state=True, chunk=chunk)
    assert out.dtype == dtype and last.dtype == dtype
    r_args, r_kw = split(ref, option)
    r_out, r_last = selective_scan_ref(*r_args, **r_kw, return_last_state=True)
    for mine, theirs in ((out, r_out), (last, r_last)):
        assert mine.shape == theirs.shape
        err = (mine.detach().cpu().double() - theirs.detach()).abs().max()
        assert float(err) <= tol * float(theirs.detach().abs().max())
    w_out, w_last = loss_weights(r_out, r_last)
    used = [i for i, name in enumerate(NAMES)
            if i < 5 or name in OPTIONS[option]]

    def loss(o, l, dt):
        terms = [(o * w_out.to(o.device, dt)).sum()] if grad_out else []
        return sum(terms + [(l * w_last.to(l.device, dt)).sum()])

    grads = torch.autograd.grad(loss(out, last, dtype),
                                [dev[i] for i in used])
    r_grads = torch.autograd.grad(loss(r_out, r_last, torch.float64),
                                  [ref[i] for i in used], allow_unused=True)
    for i, gr, rg in zip(used, grads, r_grads):
        rg = torch.zeros_like(ref[i]) if rg is None else rg
        assert gr is not None and gr.dtype == dtype, NAMES[i]
        err = float((gr.cpu().double() - rg).abs().max())
        assert err <= tol * max(float(rg.abs().max()), 1e-3), \
            (NAMES[i], err, float(rg.abs().max()))
    return grads


@kernels
@pytest.mark.parametrize('option,dtype,shape,chunk', [
    # b, E, N, L: two channel blocks (the second partial), N padded to 8,
    # L = 13 in four chunks of 4 (the last partial)
    ('all', torch.float64, (2, 12, 5, 13), 4),
    ('all', torch.float32, (2, 12, 5, 13), 4),
    # the default chunk of 16: L = 40 in three chunks, the last partial
    ('official', torch.float32, (1, 6, 16, 40), 16),
    ('official', torch.float64, (1, 3, 4, 1), 16),  # a single token
    ('z_softplus', torch.float32, (2, 5, 8, 16), 8),  # L a multiple
    ('D_only', torch.float64, (1, 4, 3, 9), 2),
    ('bias_no_softplus', torch.float64, (1, 4, 3, 9), 16),
])
def test_triton_scan_and_gradients_match_loop(option, dtype, shape, chunk):
    compare(make_inputs(*shape, dtype), option, chunk, dtype)


@kernels
def test_triton_gradient_through_last_state_only():
    # backward receives no output gradient: C gets an exact zero gradient
    grads = compare(make_inputs(2, 3, 4, 11, torch.float64), 'all', 4,
                    torch.float64, grad_out=False)
    assert torch.equal(grads[4], torch.zeros_like(grads[4]))


@kernels
def test_triton_decays_underflowing_to_zero():
    # |A| up to 1e4: single-step decays exp(-1e3) underflow to 0
    ins = make_inputs(1, 4, 4, 12, torch.float64)
    ins[2] = ins[2] * 1000.0
    compare([t.float() for t in ins], 'official', 4, torch.float32)


@kernels
def test_triton_strided_views_and_no_grad():
    # the mixer's layout: u and z are halves of a token-major [b, L, 2E]
    # projection, B and C transposes of a [b, L, N] tensor; read in place
    ins = make_inputs(2, 5, 4, 10, torch.float32)
    g = torch.Generator().manual_seed(3)
    proj = torch.randn(2, 10, 10, generator=g).to(DEVICE)
    u, z = proj.transpose(1, 2).chunk(2, dim=1)
    bc = torch.randn(2, 10, 8, generator=g).to(DEVICE)
    B, C = bc[..., :4].transpose(1, 2), bc[..., 4:].transpose(1, 2)
    assert not u.is_contiguous() and not B.is_contiguous()
    delta, A, D = (t.to(DEVICE) for t in (ins[1], ins[2], ins[5]))
    kernel = scan_module._import_kernel('triton')
    with torch.no_grad():
        out, last = kernel(u, delta, A, B, C, D, z, return_last_state=True,
                           chunk=4)
    r_out, r_last = selective_scan_ref(
        *(t.cpu().double() for t in (u, delta, A, B, C, D, z)),
        return_last_state=True)
    assert torch.allclose(out.cpu().double(), r_out, rtol=0,
                          atol=1e-5 * float(r_out.abs().max()))
    assert torch.allclose(last.cpu().double(), r_last, rtol=0,
                          atol=1e-5 * float(r_last.abs().max()))


@kernels
def test_triton_gradcheck_float64():
    # L = 7 in chunks of 4 (the second partial), every option on; fast mode
    # compares random projections of the numerical and analytical Jacobians
    ins = [t.to(DEVICE).requires_grad_()
           for t in make_inputs(2, 2, 3, 7, torch.float64)]
    kernel = scan_module._import_kernel('triton')

    def fn(*args):
        return kernel(*args[:5], D=args[5], z=args[6], delta_bias=args[7],
                      delta_softplus=True, return_last_state=True, chunk=4)

    assert torch.autograd.gradcheck(fn, ins, fast_mode=True)


@pytest.mark.skipif(DEVICE != 'cuda' or not RUN_KERNELS,
                    reason='needs CUDA and triton')
def test_triton_used_automatically_on_cuda():
    ins = [t.cuda() for t in make_inputs(2, 8, 16, 20, torch.float32)]
    expected = resolve_scan_impl('auto', ins[0])
    assert expected == ('cuda' if scan_module.mamba_ssm_available()
                        else 'triton')
    out = selective_scan(*ins[:5], impl='auto')
    ref = selective_scan_ref(*(t.double().cpu() for t in ins[:5]))
    assert float((out.cpu().double() - ref).abs().max()) <= \
        1e-5 * float(ref.abs().max())


def test_triton_dispatch_order_and_errors(monkeypatch):
    cuda, cpu = SimpleNamespace(is_cuda=True), SimpleNamespace(is_cuda=False)
    kernels_found = {'selective_scan': None, 'triton': lambda: None}
    monkeypatch.setattr(scan_module, '_KERNELS', kernels_found)
    monkeypatch.delenv('TRITON_INTERPRET', raising=False)
    assert resolve_scan_impl('auto', cuda) == 'triton'
    assert resolve_scan_impl('auto', cpu) == 'parallel'
    assert resolve_scan_impl('sequential', cuda) == 'sequential'
    with pytest.raises(RuntimeError, match='CUDA tensors'):
        resolve_scan_impl('triton', cpu)
    monkeypatch.setenv('TRITON_INTERPRET', '1')
    assert resolve_scan_impl('triton', cpu) == 'triton'
    kernels_found['selective_scan'] = lambda: None  # mamba_ssm preferred
    assert resolve_scan_impl('auto', cuda) == 'cuda'
    kernels_found.update(selective_scan=None, triton=None)  # neither
    assert resolve_scan_impl('auto', cuda) == 'parallel'
    with pytest.raises(RuntimeError, match='needs triton'):
        resolve_scan_impl('triton', cuda)
    with pytest.raises(ValueError, match="'triton'"):
        resolve_scan_impl('loop', cpu)


def test_triton_chunk_validation_and_gpu_chunk_plan():
    if triton_available():
        kernel = scan_module._import_kernel('triton')
        ins = make_inputs(1, 2, 2, 3, torch.float32)
        with pytest.raises(ValueError, match='power of two'):
            kernel(*ins[:5], chunk=12)
    # the parallel scan's default chunk: cache-sized on a CPU (one token per
    # step at b=32, E=1536, N=16), memory-bounded on a GPU
    assert default_chunk(32 * 1536 * 16, 'cpu') == 1
    assert default_chunk(32 * 1536 * 16, 'cuda') == 16
    assert default_chunk(1536 * 16, 'cpu') == 8
    assert default_chunk(32 * 128 * 16, 'cuda') == 32


@pytest.mark.skipif(INTERPRET or not triton_available(),
                    reason='needs the Triton compiler (not the interpreter)')
def test_triton_kernels_compile_for_sm90():
    # the compiled path, checked without a GPU: both kernels (every option
    # on) lower through Triton's NVIDIA backend and ptxas to an sm_90 cubin
    import triton
    from triton.backends.compiler import GPUTarget
    kernels = importlib.import_module('projects.defocus.selective_scan_triton')
    flags = dict(HAS_D=True, HAS_Z=True, HAS_BIAS=True, SOFTPLUS=True,
                 BLOCK_E=kernels.BLOCK_E, BLOCK_N=16,
                 CHUNK=kernels.DEFAULT_CHUNK)
    for kernel, extra in ((kernels._scan_fwd_kernel, dict(STORE=True)),
                          (kernels._scan_bwd_kernel, dict(HAS_GLAST=True))):
        const = dict(flags, **extra)
        sig = {name: 'constexpr' if name in const else
               '*bf16' if name in ('u_ptr', 'B_ptr', 'gout_ptr') else
               '*fp32' if name.endswith('_ptr') else 'i32'
               for name in kernel.arg_names}
        compiled = triton.compile(
            triton.compiler.ASTSource(kernel, sig, constexprs=const),
            target=GPUTarget('cuda', 90, 32),
            options=dict(num_warps=kernels.NUM_WARPS))
        assert compiled.asm['cubin'], kernel.__name__


@pytest.mark.skipif(INTERPRET or DEVICE == 'cuda' or not triton_available(),
                    reason='the kernel tests run in-process here')
def test_triton_kernels_under_interpreter():
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, '-m', 'pytest', str(Path(__file__).resolve()), '-q',
         '-p', 'no:cacheprovider', '-k',
         'triton and not under_interpreter and not dispatch '
         'and not automatically and not compile'],
        cwd=root, env=dict(os.environ, TRITON_INTERPRET='1'),
        capture_output=True, text=True, timeout=600)
    log = proc.stdout[-4000:] + proc.stderr[-2000:]
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout else ''
    assert proc.returncode == 0, log
    passed = re.search(r'(\d+) passed', summary)
    # every kernel test ran (none skipped) under the interpreter
    assert passed and int(passed.group(1)) >= 11, log
    assert 'skipped' not in summary and 'failed' not in summary, log
