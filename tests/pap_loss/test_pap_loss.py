"""The fast PAP loss equals the dense formulation and 1 - AP in closed form."""
import pytest
import torch

from projects.pap_loss import PAPFunctions, PAPLoss, pap_loss, ranking_sum
from projects.pap_loss.reference import pap_loss_dense
from projects.pap_loss.params import load_params


def batch(n=300, c=5, pos_frac=0.1, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = (torch.randn(n, c, generator=g) * 1.5).to(dtype)
    targets = torch.zeros(n, c, dtype=torch.long)
    pos_anchor = torch.rand(n, generator=g) < pos_frac
    cls = torch.randint(0, c, (n,), generator=g)
    targets[pos_anchor, cls[pos_anchor]] = 1
    ignored = (torch.rand(n, generator=g) < 0.1) & ~pos_anchor
    targets[ignored] = -1
    quality = torch.rand(n, generator=g).to(dtype)
    return logits.requires_grad_(), targets, quality.requires_grad_()


RETINANET, _ = load_params('projects/pap_loss/params/retinanet.json')
FUNCTIONS = {
    'released': PAPFunctions.from_ctrl_points(RETINANET),
    'step-H1': PAPFunctions.from_ctrl_points(RETINANET[:4]),
    'linear': PAPFunctions.handcrafted('linear'),
    'square': PAPFunctions.handcrafted('square'),
    'sigmoid': PAPFunctions.handcrafted('sigmoid'),
}


def value_and_grads(fn, functions, dtype, num_topk):
    logits, targets, quality = batch(dtype=dtype)
    loss = fn(logits, targets, quality, functions, num_topk=num_topk)
    loss.backward()
    return loss.detach(), logits.grad, quality.grad


@pytest.mark.parametrize('name', sorted(FUNCTIONS))
@pytest.mark.parametrize('num_topk', [100000, 400])
def test_fast_equals_dense_float64(name, num_topk):
    fast = value_and_grads(pap_loss, FUNCTIONS[name], torch.float64, num_topk)
    dense = value_and_grads(pap_loss_dense, FUNCTIONS[name], torch.float64,
                            num_topk)
    for a, b in zip(fast, dense):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
    assert fast[1].abs().sum() > 0 and fast[2].abs().sum() > 0


@pytest.mark.parametrize('name', ['released', 'linear'])
def test_ties_at_clip_boundaries_follow_autograd(name):
    # logits on a 0.5 grid: many gaps of exactly +-1 (x = 1 or 0) and 0
    logits, targets, quality = batch()
    logits = (logits.detach() * 2).round().div(2).requires_grad_()
    out = []
    for fn in (pap_loss, pap_loss_dense):
        lg = logits.detach().clone().requires_grad_()
        q = quality.detach().clone().requires_grad_()
        fn(lg, targets, q, FUNCTIONS[name]).backward()
        out.append((lg.grad, q.grad))
    for a, b in zip(*out):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize('name', ['released', 'square'])
def test_fast_equals_dense_float32(name):
    fast = value_and_grads(pap_loss, FUNCTIONS[name], torch.float32, 100000)
    dense = value_and_grads(pap_loss_dense, FUNCTIONS[name], torch.float32,
                            100000)
    for a, b in zip(fast, dense):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


def test_ranking_sum_gradcheck():
    g = torch.Generator().manual_seed(1)
    s_rows = torch.randn(40, generator=g, dtype=torch.float64) * 1.2
    w_rows = torch.rand(40, generator=g, dtype=torch.float64)
    s_cols = torch.randn(7, generator=g, dtype=torch.float64)
    fn = FUNCTIONS['released'].H2
    for t in (s_rows, w_rows, s_cols):
        t.requires_grad_()
    assert torch.autograd.gradcheck(
        lambda a, b, c: ranking_sum(a, b, c, fn), (s_rows, w_rows, s_cols))


def ap_at(scores, is_pos, good):
    """Non-interpolated AP over all entries, recall normalised by |P|."""
    order = torch.argsort(scores, descending=True)
    tp = (is_pos & good)[order].double()
    precision = torch.cumsum(tp, 0) / torch.arange(1, len(tp) + 1)
    return float((precision * tp).sum() / is_pos.sum())


def test_step_functions_give_one_minus_ap():
    # H = step at zero gap (value 1 at ties, i.e. self counted once) and
    # I = 1[u >= 0.5]: the loss is exactly 1 - AP at that quality threshold.
    step = [0.5, 0.0, 0.5, 1.0]
    functions = PAPFunctions.from_ctrl_points(
        [step, step, step, step, step])
    logits, targets, quality = batch(n=200, c=4, pos_frac=0.2, seed=3)
    loss = pap_loss(logits, targets, quality, functions)
    flat = targets.reshape(-1)
    valid = flat >= 0
    good = (quality[:, None] >= 0.5).expand_as(targets).reshape(-1)
    expected = 1 - ap_at(logits.detach().reshape(-1)[valid],
                         (flat == 1)[valid], good[valid])
    # (up to the 1e-8 guard of the official normaliser sum / (|P| + 1e-8))
    assert float(loss) == pytest.approx(expected, rel=1e-9)


def test_module_and_edge_cases():
    with pytest.raises(ValueError, match='exactly one of'):
        PAPLoss()
    with pytest.raises(ValueError, match='unknown form'):
        PAPLoss(form='cubic')
    with pytest.raises(FileNotFoundError, match='missing.json does not'):
        PAPLoss(params_file='missing.json')
    loss = PAPLoss(theta=[[0.2, 0.2, 0.25, 0.25, 1 / 3, 1 / 3, 0.5, 0.5]] * 5,
                   loss_weight=2.0)
    logits, targets, quality = batch()
    linear = pap_loss(logits, targets, quality,
                      PAPFunctions.handcrafted('linear'))
    assert float(loss(logits, targets, quality)) == pytest.approx(
        2 * float(linear), rel=1e-9)  # the identity init is the linear form
    targets = torch.zeros_like(targets)  # no positives: zero, with a graph
    out = loss(logits, targets, quality)
    out.backward()
    assert float(out) == 0 and logits.grad.abs().sum() == 0
    with pytest.raises(ValueError, match=r'loc_quality \[N\]'):
        pap_loss(logits, targets, quality[:5], loss.functions)


def test_perfect_detector_gives_zero():
    # positives >= 1 logit above every negative, perfect localisation
    logits, targets, quality = batch()
    logits = torch.where(targets == 1, 3.0, -3.0).double().requires_grad_()
    quality = torch.ones_like(quality)
    for name in ('released', 'linear', 'square'):
        loss = pap_loss(logits, targets, quality, FUNCTIONS[name])
        assert float(loss) == pytest.approx(0.0, abs=1e-12), name


def test_invariances():
    logits, targets, quality = batch(seed=5)
    fns = FUNCTIONS['released']
    base = float(pap_loss(logits, targets, quality, fns))
    assert float(pap_loss(logits + 7.25, targets, quality, fns)) == \
        pytest.approx(base, rel=1e-12)  # shift
    perm = torch.randperm(logits.shape[0],
                          generator=torch.Generator().manual_seed(0))
    assert float(pap_loss(logits[perm], targets[perm], quality[perm],
                          fns)) == pytest.approx(base, rel=1e-12)
    ignored = targets == -1
    scrambled = torch.where(ignored, torch.randn_like(logits) * 50, logits)
    assert float(pap_loss(scrambled, targets, quality, fns)) == \
        pytest.approx(base, rel=1e-12)  # ignored entries do not count
    assert float(pap_loss(logits, targets, quality, fns, num_topk=10**9)) \
        == pytest.approx(base, rel=1e-12)


def test_gradient_signs():
    # raising a negative never lowers the loss; ignored entries get none
    logits, targets, quality = batch(seed=6)
    pap_loss(logits, targets, quality, FUNCTIONS['released']).backward()
    neg = logits.grad[targets == 0]
    assert (neg >= 0).all() and (neg > 0).any()
    assert (logits.grad[targets == -1] == 0).all()


@pytest.mark.parametrize('seed', range(4))
def test_finite_gradients_random_monotone_parameters(seed):
    g = torch.Generator().manual_seed(seed)
    theta = torch.rand(5, 8, generator=g, dtype=torch.float64)
    theta[0, 2] = 0.0  # zero-width segment in H2
    theta[4, 4:6] = 1.0  # H1 reaches (1, 1) early: saturated tail
    loss = PAPLoss(theta=theta)
    cases = [batch(seed=seed), batch(n=40, c=3, pos_frac=0.0, seed=seed)]
    logits, targets, quality = cases[1]
    targets[0] = 0
    targets[0, 1] = 1  # a single positive
    cases[1] = (logits, targets, quality)
    far = batch(seed=seed)
    far_logits = torch.where(far[1] == 1, 10.0, -10.0).double()
    cases.append((far_logits.requires_grad_(), far[1], far[2]))
    for logits, targets, quality in cases:
        out = loss(logits, targets, quality)
        out.backward()
        assert torch.isfinite(out)
        assert torch.isfinite(logits.grad).all()
        assert torch.isfinite(quality.grad).all()
