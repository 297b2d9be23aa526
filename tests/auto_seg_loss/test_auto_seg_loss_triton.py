"""The fused Triton kernels against the PyTorch paths and the float64
reference: values and gradients of every metric, with ignored pixels,
absent classes and sizes that are not multiples of the blocks.

With CUDA the compiled kernels run on the GPU; without it the same tests
run on CPU tensors through Triton's interpreter. ``TRITON_INTERPRET=1``
must be set before triton is imported (its standard library is decorated
then), so it is set here; if triton was imported earlier in this process,
the tests run in a subprocess instead.
"""
import importlib.util
import os
import subprocess
import sys

import pytest
import torch

if importlib.util.find_spec('triton') is None:
    pytest.skip('triton is not installed', allow_module_level=True)
CUDA = torch.cuda.is_available()
IN_PROCESS = CUDA or 'triton' not in sys.modules
if not CUDA and IN_PROCESS:
    os.environ['TRITON_INTERPRET'] = '1'
import triton  # noqa: E402
import triton.language as tl  # noqa: E402

DEVICE = 'cuda' if CUDA else 'cpu'
kernels = pytest.mark.skipif(not IN_PROCESS,
                             reason='triton was imported before the '
                             'interpreter was set: see the subprocess test')

from projects.auto_seg_loss import (AutoSegLoss, FUNCTIONS,  # noqa: E402
                                    PiecewiseBezier, load_params,
                                    theta_to_control_points)
from projects.auto_seg_loss.bf1 import bf1_surrogate  # noqa: E402
from projects.auto_seg_loss.reference import (  # noqa: E402
    bezier_reference, surrogate_reference)
from projects.auto_seg_loss.region import region_sums  # noqa: E402
from projects.auto_seg_loss.triton_bezier import bezier  # noqa: E402

PARAMS = dict(mIoU='miou.json', FWIoU='fwiou.json', BIoU='biou.json',
              mAcc='macc.json', gAcc='gacc.json', BF1='bf1.json')


@triton.jit
def evaluate(x, prm, y, d, n, SLOTS: tl.constexpr, BLOCK: tl.constexpr):
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    v, s = bezier(tl.load(x + i, mask=i < n, other=0.0), prm, SLOTS)
    tl.store(y + i, v, mask=i < n)
    tl.store(d + i, s, mask=i < n)


def _kernels_compiled_as_expected():
    mod = importlib.import_module('projects.auto_seg_loss.region_triton')
    interpreted = not isinstance(mod._region_fwd, triton.runtime.JITFunction)
    return interpreted != CUDA


def labels(n=2, h=19, w=23, c=5, seed=0, absent=(), ignore=True):
    """Blocky labels (3 px blocks), an ignored band and an ignored patch."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.randint(0, c, (n, 1, h // 3 + 1, w // 3 + 1), generator=g)
    lab = torch.nn.functional.interpolate(coarse.float(), scale_factor=3,
                                          mode='nearest')[:, 0, :h, :w]
    lab = lab.long()
    for k in absent:
        lab[lab == k] = (k + 1) % c
    if ignore:
        lab[0, :2] = -1
        lab[-1, 6:9, 4:8] = -1
    return lab.to(DEVICE)


def logits(n=2, c=5, h=19, w=23, seed=1, scale=2.5):
    g = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(n, c, h, w, generator=g)).to(DEVICE)


def random_fns(metric, seed):
    names, pieces = FUNCTIONS[metric]
    g = torch.Generator().manual_seed(seed)
    theta = torch.rand(2 * (2 * pieces - 1) * len(names), generator=g,
                       dtype=torch.float64)
    flat = theta_to_control_points(theta, num_pieces=pieces)
    return [PiecewiseBezier(r) for r in flat.reshape(len(names), -1)]


def released_fns(metric):
    rows = load_params(PARAMS[metric], metric)[0]
    return [PiecewiseBezier(r) for r in rows]


def rel(a, b):
    """max |a - b| / max |b|."""
    return float((a.double() - b.double()).abs().max() /
                 b.double().abs().max().clamp_min(1e-30))


@kernels
def test_triton_kernels_compiled_or_interpreted():
    assert _kernels_compiled_as_expected()


@pytest.mark.skipif(IN_PROCESS, reason='runs in this process')
def test_triton_kernels_in_subprocess():
    env = dict(os.environ, TRITON_INTERPRET='1')
    proc = subprocess.run(
        [sys.executable, '-m', 'pytest', __file__, '-q', '-p',
         'no:cacheprovider', '-k', 'not in_subprocess'], env=env,
        capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]


@kernels
@pytest.mark.parametrize('pieces', [1, 2])
@pytest.mark.parametrize('seed', range(3))
def test_triton_bezier_matches_reference(pieces, seed):
    n = 2 * (2 * pieces - 1)
    theta = torch.rand(n, generator=torch.Generator().manual_seed(seed),
                       dtype=torch.float64)
    cases = [theta_to_control_points(theta, 1, pieces)]
    # identity, vertical tangents (a = 0 at 0, a = 1 at 1), a zero-width
    # first piece
    cases += [[0.5, 0.5], [0.0, 0.7], [1.0, 0.2]] if pieces == 1 else [
        [0.25, 0.25, 0.5, 0.5, 0.75, 0.75], [0.0, 0.3, 0.4, 0.5, 1.0, 0.6],
        [0.3, 0.1, 0.3, 0.4, 0.3, 0.9], [0.0, 0.2, 0.0, 0.4, 0.5, 0.7]]
    x = torch.cat([torch.linspace(0, 1, 1001, dtype=torch.float64),
                   torch.rand(300, dtype=torch.float64)])
    xs = x.float().to(DEVICE)
    inner = (x > 1e-3) & (x < 1 - 1e-3)
    for pts in cases:
        fn = PiecewiseBezier(pts)
        table = torch.tensor(fn.piece_table(pieces), dtype=torch.float32,
                             device=DEVICE)
        y, d = torch.empty_like(xs), torch.empty_like(xs)
        evaluate[(triton.cdiv(x.numel(), 256), )](
            xs, table, y, d, x.numel(), SLOTS=pieces, BLOCK=256)
        y, d = y.cpu(), d.cpu()
        y64, d64 = fn.evaluate(xs.cpu().double(), slope=True)
        # away from ends and junctions (vertical tangents there: a float32
        # x falls on either side, slopes jump)
        away = inner.clone()
        for pc in fn.pieces:
            away &= (x - pc['x0']).abs() > 1e-3
        assert float((y.double() - y64)[away].abs().max()) < 1e-6
        ref = bezier_reference(xs.cpu().double(), fn.points)
        assert float((y.double() - ref)[away].abs().max()) < 2e-6
        assert rel(d[away], d64[away]) < 1e-5


REGION_CASES = [  # metric, classes, height, width, absent classes
    ('mIoU', 5, 19, 23, ()), ('mIoU', 37, 13, 17, (3, 7, 20)),
    ('mAcc', 5, 19, 23, (2, )), ('gAcc', 150, 6, 11, ()),
    ('FWIoU', 3, 40, 50, (1, ))]


@kernels
@pytest.mark.parametrize('metric,c,h,w,absent', REGION_CASES)
@pytest.mark.parametrize('released', [True, False])
def test_triton_region_sums_match_torch(metric, c, h, w, absent, released):
    fns = released_fns(metric) if released else random_fns(metric, c)
    gt_fns, all_fn = (fns, fns[1]) if len(fns) == 2 else (fns, None)
    lab = labels(h=h, w=w, c=c, absent=absent)
    x0 = logits(c=c, h=h, w=w)
    out = {}
    for backend in ('triton', 'torch'):
        x = x0.clone().requires_grad_()
        gt, al, cnt = region_sums(x, lab, gt_fns, all_fn, backend=backend)
        wg = torch.linspace(-1, 2, gt.numel(), dtype=gt.dtype,
                            device=gt.device).reshape(gt.shape)
        wa = torch.linspace(1, -1, c, dtype=gt.dtype, device=gt.device)
        ((gt * wg).sum() + (al * wa).sum()).backward()
        out[backend] = (gt.detach(), al.detach(), cnt, x.grad)
    (g1, a1, n1, d1), (g2, a2, n2, d2) = out['triton'], out['torch']
    assert torch.equal(n1, n2)
    assert rel(g1, g2) < 1e-5
    if all_fn is not None:
        assert rel(a1, a2) < 1e-5
    assert rel(d1, d2) < 1e-5
    for k in absent:  # absent classes: no label-class terms
        assert float(g1[:, k].abs().max()) == 0.0
    ignored = (lab < 0)[:, None].expand_as(d1)
    assert float(d1[ignored].abs().max()) == 0.0


@kernels
@pytest.mark.parametrize('metric', list(PARAMS))
def test_triton_loss_matches_torch_and_reference(metric):
    c, h, w = 6, 21, 18
    lab = labels(h=h, w=w, c=c, absent=(4, ), seed=3)
    lab_255 = torch.where(lab < 0, 255, lab)
    x0 = logits(c=c, h=h, w=w, seed=5)
    res = {}
    for backend in ('triton', 'torch'):
        loss_fn = AutoSegLoss(target_metric=metric, params_file=PARAMS[metric],
                              tol=2, drop_bg=metric in ('BIoU', 'BF1'),
                              loss_weight=0.7, backend=backend)
        x = x0.clone().requires_grad_()
        loss = loss_fn(x, lab_255)
        loss.backward()
        res[backend] = (float(loss.detach()), x.grad)
    ref_x = x0.double().cpu().requires_grad_()
    ref = 0.7 * (1 - surrogate_reference(
        ref_x, lab_255.cpu(), metric, loss_fn.ctrl_points, tol=2,
        drop_bg=metric in ('BIoU', 'BF1')))
    ref.backward()
    (v1, d1), (v2, d2) = res['triton'], res['torch']
    assert v1 == pytest.approx(v2, rel=1e-5, abs=1e-7)
    assert v1 == pytest.approx(float(ref.detach()), rel=1e-5, abs=1e-7)
    assert rel(d1, d2) < 1e-5
    assert rel(d1.cpu(), ref_x.grad) < 1e-5


@kernels
@pytest.mark.parametrize('c,h,w,tol,drop_bg', [
    (5, 19, 23, 2, False), (5, 19, 23, 2, True), (7, 13, 29, 3, True),
    (3, 9, 7, 1, False), (4, 33, 35, 5, True)])
def test_triton_bf1_matches_torch(c, h, w, tol, drop_bg):
    # class c - 1 absent; class 2 only in image 1 (plane (0, 2) has no GT
    # boundary: only its sum of e); image 1 with an ignored patch
    lab = labels(h=h, w=w, c=c, absent=(c - 1, ), seed=c)
    lab[0][lab[0] == 2] = 1
    fns = random_fns('BF1', c) if c % 2 else released_fns('BF1')
    x0 = logits(c=c, h=h, w=w, seed=c + 1)
    out = {}
    for backend in ('triton', 'torch'):
        x = x0.clone().requires_grad_()
        f1, n_gt = bf1_surrogate(x, lab, fns, tol, 1e-8, drop_bg,
                                 backend=backend)
        wf = torch.linspace(1, 2, c, device=f1.device)
        (f1 * wf).sum().backward()
        out[backend] = (f1.detach(), n_gt, x.grad)
    (f1, n1, d1), (f2, n2, d2) = out['triton'], out['torch']
    assert torch.equal(n1, n2)
    assert float(f1[c - 1]) == 0.0
    assert rel(f1, f2) < 1e-5
    assert rel(d1, d2) < 1e-5
    ignored = (lab < 0)[:, None].expand_as(d1)
    assert float(d1[ignored].abs().max()) == 0.0


@kernels
def test_triton_bf1_without_boundaries_and_all_ignored():
    lab = torch.full((2, 9, 11), 3, dtype=torch.long, device=DEVICE)
    lab[1] = -1
    for backend in ('triton', 'torch'):
        x = logits(c=5, h=9, w=11).requires_grad_()
        f1, n_gt = bf1_surrogate(x, lab, released_fns('BF1'), 2,
                                 backend=backend)
        f1.sum().backward()
        assert float(n_gt.sum()) == 0 and float(f1.abs().sum()) == 0
        assert float(x.grad.abs().max()) == 0


@pytest.mark.skipif(not CUDA, reason='needs CUDA')
def test_triton_is_the_default_on_cuda(monkeypatch):
    import projects.auto_seg_loss.region_triton as rt
    calls = []
    real = rt.region_sums_triton
    monkeypatch.setattr(rt, 'region_sums_triton',
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    loss_fn = AutoSegLoss(target_metric='mIoU', params_file='miou.json')
    loss_fn(logits(c=5), labels(c=5))
    assert calls
