"""The functional contrastive losses and the Sinkhorn solver behind MoNCE."""
import math

import pytest
import torch
import torch.nn.functional as F

from models.networks import sinkhorn
from models.networks.contrastive import (monce_log_weights, monce_loss, nce_from_similarities, patchnce_loss,
                                         similarities, weightnce_log_weights, weightnce_loss)

TAU = 0.07


def features(b=2, n=24, c=8, dtype=torch.float64, seed=0, kind='signed'):
    """Normalised (q, k): k a noisy copy of q, so positives are the most similar pairs."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(b, n, c, dtype=dtype, generator=gen)
    y = x + 0.5 * torch.randn(b, n, c, dtype=dtype, generator=gen)
    if kind == 'relu':  # VGG features are non-negative: similarities in [0, 1]
        x, y = x.relu(), y.relu()
    return F.normalize(x, dim=-1), F.normalize(y, dim=-1)


def eye(n):
    return torch.eye(n, dtype=torch.bool)


# ------------------------------------------------------------------ the released formulas
def cut_patchnce(q, k, tau=TAU):
    """CUT's PatchNCE, step by step: (1+N)-way cross-entropy, self-pair filled with -10."""
    b, n, _ = q.shape
    l_pos = (q * k).sum(-1).reshape(b * n, 1)
    l_neg = torch.bmm(q, k.transpose(1, 2)).masked_fill(eye(n), -10.0).reshape(b * n, n)
    logits = torch.cat([l_pos, l_neg], dim=1) / tau
    return F.cross_entropy(logits, torch.zeros(b * n, dtype=torch.long), reduction='none').view(b, n)


def released_monce(q, k, total=128.0, eps=1.0, iters=50, tau=0.07):
    """The released paired code's loss at its modulated layer, transcribed step by step
    (docs/losses.md): linear-domain Sinkhorn on exp(s/eps) with exp(-10/eps) on the diagonal,
    50 fixed iterations; w = 128 P + 1e-8; tau log(max_j w_ij) added to the positive logit;
    tau log w_ij added to the negative logits; self-pair filled with -10; cross-entropy."""
    b, n, _ = q.shape
    sim = torch.bmm(q, k.transpose(1, 2))
    kernel = torch.exp(sim.masked_fill(eye(n), -10.0) / eps)
    u = torch.ones(b, n, dtype=q.dtype)
    v = torch.ones(b, n, dtype=q.dtype)
    for _ in range(iters):
        u = 1.0 / torch.bmm(kernel, v.unsqueeze(-1)).squeeze(-1)
        v = 1.0 / torch.bmm(u.unsqueeze(1), kernel).squeeze(1)
    plan = u.unsqueeze(-1) * kernel * v.unsqueeze(1)
    w = plan * total + 1e-8
    w_max = w.max(dim=-1).values.reshape(b * n, 1)
    l_pos = (q * k).sum(-1).reshape(b * n, 1) + torch.log(w_max) * tau
    l_neg = (sim + torch.log(w) * tau).masked_fill(eye(n), -10.0).reshape(b * n, n)
    logits = torch.cat([l_pos, l_neg], dim=1) / tau
    return F.cross_entropy(logits, torch.zeros(b * n, dtype=torch.long), reduction='none').view(b, n)


def official(q, k, **overrides):
    n = q.shape[1]
    args = dict(tau=0.07, Q=128 / (n - 1), eps=1.0, cost='hard', sinkhorn_iters=50, modulate_positive=True)
    args.update(overrides)
    return monce_loss(q, k, **args)


# ------------------------------------------------------------------------------ PatchNCE
def test_patchnce_matches_cut_formula():
    q, k = features()
    loss = patchnce_loss(q, k)
    assert loss.shape == (2, 24)
    torch.testing.assert_close(loss, cut_patchnce(q, k), rtol=0, atol=1e-10)


def test_unit_weights_give_patchnce_bit_for_bit():
    q, k = features(dtype=torch.float32)
    s = similarities(q, k)
    unit = torch.zeros_like(s).masked_fill(eye(24), -math.inf)
    assert torch.equal(nce_from_similarities(s, TAU, unit), patchnce_loss(q, k))
    assert torch.equal(nce_from_similarities(s, TAU, unit, torch.zeros(2, 24)), patchnce_loss(q, k))


@pytest.mark.parametrize('weighting', ['easy', 'hard'])
def test_weightnce_and_monce_have_unit_weights_when_all_negatives_are_alike(weighting):
    # with every negative equally similar, both schemes must weigh each negative Q = 1
    n = 16
    s = torch.full((2, n, n), 0.3, dtype=torch.float64)
    s.diagonal(dim1=-2, dim2=-1).fill_(0.9)
    off = ~eye(n)
    log_w = weightnce_log_weights(s, 1.0, 0.1, weighting)
    assert log_w[:, off].abs().max() < 1e-12
    log_w, _ = monce_log_weights(s, 1.0, 0.1, weighting, 100)
    assert log_w[:, off].abs().max() < 1e-12
    assert torch.isneginf(log_w[:, eye(n)]).all()


def test_weightnce_tends_to_patchnce_as_beta_grows():
    q, k = features()
    reference = patchnce_loss(q, k)
    gaps = [(weightnce_loss(q, k, beta=beta) - reference).abs().max().item() for beta in (0.1, 1.0, 10.0, 1e3, 1e6)]
    assert all(later < earlier for earlier, later in zip(gaps, gaps[1:]))
    assert gaps[0] > 1e-2 and gaps[-1] < 1e-5


@pytest.mark.parametrize('loss', ['weightnce', 'monce'])
def test_q_scales_the_negative_term(loss):
    # l = log(1 + Q * negatives/positive), so e^l - 1 is proportional to Q
    q, k = features()
    fn = (lambda Q: weightnce_loss(q, k, Q=Q)) if loss == 'weightnce' else (lambda Q: monce_loss(q, k, Q=Q))
    base = torch.expm1(fn(1.0))
    for Q in (0.25, 3.0):
        torch.testing.assert_close(torch.expm1(fn(Q)), Q * base, rtol=1e-6, atol=0)
    assert (fn(3.0) > fn(1.0)).all()


# -------------------------------------------------------------------------- the plan
def log_kernel(s, eps, cost='easy'):
    return ((s if cost == 'hard' else 1 - s) / eps).masked_fill(eye(s.shape[-1]), -math.inf)


@pytest.mark.parametrize('kind', ['signed', 'relu'])
@pytest.mark.parametrize('eps', [1.0, 0.1, 0.05])
def test_plan_has_unit_marginals_and_an_empty_diagonal(kind, eps):
    q, k = features(b=3, n=64, c=16, dtype=torch.float32, kind=kind)
    log_plan, steps = sinkhorn.sinkhorn_log(log_kernel(similarities(q, k), eps))  # default tolerance
    rows, cols = sinkhorn.marginal_errors(log_plan)
    assert rows <= 1e-3 and cols <= 1e-3
    assert steps.shape == (3,) and (steps < 100).all()
    assert (log_plan.exp()[:, eye(64)] == 0).all()


def test_plan_with_zero_tolerance_runs_every_step():
    q, k = features()
    _, steps = sinkhorn.sinkhorn_log(log_kernel(similarities(q, k), 1.0), max_iters=37, tol=0.0)
    assert steps.tolist() == [37, 37]


def test_plan_stops_early_once_marginals_are_met():
    q, k = features()
    loose = sinkhorn.sinkhorn_log(log_kernel(similarities(q, k), 0.1), tol=1e-2)[1]
    tight = sinkhorn.sinkhorn_log(log_kernel(similarities(q, k), 0.1), tol=1e-9)[1]
    assert (1 <= loose).all() and (loose < tight).all() and (tight < 100).all()


def test_plan_matches_plain_log_sum_exp_iterations():
    # the matrix-vector steps are the log-sum-exp steps, rearranged
    q, k = features(dtype=torch.float64)
    kernel = log_kernel(similarities(q, k), 0.1)
    fast, _ = sinkhorn.sinkhorn_log(kernel, max_iters=30, tol=0.0)
    g = torch.zeros(2, 24, dtype=torch.float64)
    for _ in range(30):
        f = -torch.logsumexp(kernel + g.unsqueeze(-2), dim=-1)
        g = -torch.logsumexp(kernel + f.unsqueeze(-1), dim=-2)
    slow = kernel + f.unsqueeze(-1) + g.unsqueeze(-2)
    off = ~eye(24)
    torch.testing.assert_close(fast[:, off], slow[:, off], rtol=0, atol=1e-10)


def test_underflow_falls_back_to_log_sum_exp():
    # column 0 is 2/eps = 200 below every row maximum: exp() of it is 0 in float32, so the
    # matrix-vector form cannot balance that column and the solver must notice
    n = 12
    s = torch.rand(2, n, n, generator=torch.Generator().manual_seed(0)) * 0.2 + 0.8
    s[:, :, 0] = -1.0
    kernel = log_kernel(s, 0.01, 'hard')
    fast = sinkhorn._ScaledKernel(kernel - kernel.amax(-1, keepdim=True))
    sinkhorn._solve(fast, 100, 1e-5, exit_early=True)
    assert fast.underflowed().all()
    log_plan, _ = sinkhorn.sinkhorn_log(kernel, max_iters=500, tol=1e-5)
    assert torch.isfinite(log_plan[:, ~eye(n)]).all()
    rows, cols = sinkhorn.marginal_errors(log_plan)
    assert rows <= 1e-4 and cols <= 1e-4
    reference, _ = sinkhorn.sinkhorn_log(kernel.double(), max_iters=500, tol=1e-12)
    torch.testing.assert_close(log_plan.exp(), reference.exp().float(), rtol=0, atol=1e-5)



# --------------------------------------------------------- several problems in one solve
def solve_with_gradient(kernels, dtype, **kwargs):
    """(log-plans, steps, gradients wrt each kernel) of one solve per tensor of ``kernels``,
    under a fixed random upstream gradient on the off-diagonal entries."""
    leaves = [k.detach().to(dtype, copy=True).requires_grad_(True) for k in kernels]
    plans, steps = zip(*(sinkhorn.sinkhorn_log(k, log_scale=math.log(7.0), **kwargs) for k in leaves))
    plan, n = torch.cat(plans), plans[0].shape[-1]
    upstream = torch.randn(plan.shape, dtype=dtype, generator=torch.Generator().manual_seed(5))
    (plan[:, ~eye(n)] * upstream[:, ~eye(n)]).sum().backward()
    return plan.detach(), torch.cat(steps), torch.cat([k.grad for k in leaves])


def two_layers(n=32):
    """A problem that converges in a few steps (eps 1) and a slow one (eps 0.05), 2 images each."""
    fast = log_kernel(similarities(*features(b=2, n=n, c=8, seed=0)), 1.0)
    slow = log_kernel(similarities(*features(b=2, n=n, c=8, seed=1)), 0.05)
    return fast, slow


@pytest.mark.parametrize('dtype, atol', [(torch.float64, 1e-12), (torch.float32, 1e-6)])
def test_stacked_solve_gives_each_problem_its_own_answer(dtype, atol):
    # each problem stops at its own tolerance: solved beside a slower one, the fast layer keeps the
    # plan, the step count and the gradient it has alone (a shared stop would run it further)
    fast, slow = two_layers()
    alone = solve_with_gradient([fast, slow], dtype)
    stacked = solve_with_gradient([torch.cat([fast, slow])], dtype)
    assert alone[1].tolist() == stacked[1].tolist()
    assert alone[1][:2].max() < 10 <= alone[1][2:].min()  # really different convergence
    off = ~eye(fast.shape[-1])
    torch.testing.assert_close(stacked[0][:, off], alone[0][:, off], rtol=0, atol=atol)
    torch.testing.assert_close(stacked[2], alone[2], rtol=0, atol=atol * alone[2].abs().max().item())


def test_underflowing_problem_is_redone_alone():
    # the entry-by-entry redo is for the problems that need it: the others keep the fast path's
    # answer to the last bit (a redo of the whole batch would give them rounding differences)
    n = 12
    s = torch.rand(2, n, n, generator=torch.Generator().manual_seed(0)) * 0.2 + 0.8
    s[:, :, 0] = -1.0
    unsafe = log_kernel(s, 0.01, 'hard')
    safe = log_kernel(similarities(*features(b=2, n=n, c=8, dtype=torch.float32)), 0.1)
    alone = [sinkhorn.sinkhorn_log(k, max_iters=300, tol=0.0)[0] for k in (safe, unsafe)]
    stacked, _ = sinkhorn.sinkhorn_log(torch.cat([safe, unsafe]), max_iters=300, tol=0.0)
    off = ~eye(n)
    assert torch.equal(stacked[:2, off], alone[0][:, off])
    torch.testing.assert_close(stacked[2:, off], alone[1][:, off], rtol=0, atol=1e-6)


@pytest.mark.parametrize('tol', [1e-5, 0.0])
def test_fixed_mode_gives_the_adaptive_answer(tol):
    # fixed: every step runs (nothing read back to decide when to stop), converged problems are
    # frozen on the device, and the per-entry log-sum-exp replaces the checked fast path
    fast, slow = two_layers()
    kernel = [torch.cat([fast, slow])]
    adaptive = solve_with_gradient(kernel, torch.float64, tol=tol, max_iters=60)
    fixed = solve_with_gradient(kernel, torch.float64, tol=tol, max_iters=60, fixed=True)
    assert fixed[1].tolist() == adaptive[1].tolist()
    off = ~eye(fast.shape[-1])
    torch.testing.assert_close(fixed[0][:, off], adaptive[0][:, off], rtol=0, atol=1e-12)
    torch.testing.assert_close(fixed[2], adaptive[2], rtol=0, atol=1e-12 * adaptive[2].abs().max().item())

@pytest.mark.parametrize('weights', ['weightnce', 'monce'])
def test_hard_weighs_similar_negatives_up_and_easy_weighs_them_down(weights):
    q, k = features(b=2, n=48, c=8)
    s = similarities(q, k)
    off = ~eye(48)
    for cost, sign in (('hard', 1), ('easy', -1)):
        if weights == 'weightnce':
            log_w = weightnce_log_weights(s, 1.0, 0.1, cost)
        else:
            log_w, _ = monce_log_weights(s, 1.0, 0.1, cost, 100)
        x, y = s[:, off].flatten(), log_w[:, off].flatten()
        corr = torch.corrcoef(torch.stack([x, y]))[0, 1]
        assert sign * corr > 0.5


def test_monce_weights_total_q_times_n_minus_one_per_anchor_and_per_negative():
    q, k = features(b=2, n=32)
    Q = 0.7
    log_w, _ = monce_log_weights(similarities(q, k), Q, 0.1, 'easy', 100)
    w = log_w.exp()
    torch.testing.assert_close(w.sum(-1), torch.full((2, 32), Q * 31, dtype=torch.float64), rtol=1e-3, atol=0)
    torch.testing.assert_close(w.sum(-2), torch.full((2, 32), Q * 31, dtype=torch.float64), rtol=1e-3, atol=0)


@pytest.mark.parametrize('loss', ['patchnce', 'weightnce', 'monce'])
def test_permuting_patches_permutes_the_losses(loss):
    fn = {'patchnce': patchnce_loss, 'weightnce': weightnce_loss, 'monce': monce_loss}[loss]
    q, k = features(b=2, n=40)
    perm = torch.randperm(40, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(fn(q[:, perm], k[:, perm]), fn(q, k)[:, perm], rtol=1e-7, atol=1e-9)


# ------------------------------------------------------------------------- gradients
GRADCHECK_CASES = {
    'patchnce': lambda q, k: patchnce_loss(q, k),
    'weightnce easy': lambda q, k: weightnce_loss(q, k, beta=0.3, weighting='easy'),
    'weightnce hard': lambda q, k: weightnce_loss(q, k, Q=2.0, beta=0.3, weighting='hard'),
    'monce easy': lambda q, k: monce_loss(q, k, eps=0.3, sinkhorn_tol=1e-13, sinkhorn_iters=5000),
    'monce hard': lambda q, k: monce_loss(q, k, Q=0.5, eps=0.3, cost='hard', sinkhorn_tol=1e-13, sinkhorn_iters=5000),
    'monce official': lambda q, k: official(q, k, weight_floor=1e-8, sinkhorn_iters=500, sinkhorn_tol=1e-13),
}


@pytest.mark.parametrize('case', list(GRADCHECK_CASES))
def test_gradcheck(case):
    q, k = features(b=2, n=6, c=4)
    q.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: GRADCHECK_CASES[case](x, k), (q,), eps=1e-6, atol=1e-6)


def test_gradcheck_of_the_plan_itself():
    q, k = features(b=2, n=5, c=3)
    kernel = log_kernel(similarities(q, k), 0.5, 'hard').requires_grad_(True)
    off = ~eye(5)

    def plan_entries(x):
        return sinkhorn.sinkhorn_log(x, max_iters=5000, tol=1e-13)[0][:, off]
    assert torch.autograd.gradcheck(plan_entries, (kernel,), eps=1e-6, atol=1e-6)


def test_detached_plan_acts_as_constant_weights():
    q, k = features()
    q1, q2, q3 = (q.clone().requires_grad_(True) for _ in range(3))
    detached = monce_loss(q1, k, grad_through_plan=False)
    log_w, _ = monce_log_weights(similarities(q, k), 1.0, 0.1, 'easy', 100)
    constant = nce_from_similarities(similarities(q2, k), TAU, log_w)
    torch.testing.assert_close(detached, constant, rtol=0, atol=1e-12)
    detached.sum().backward()
    constant.sum().backward()
    torch.testing.assert_close(q1.grad, q2.grad, rtol=0, atol=1e-12)
    monce_loss(q3, k).sum().backward()
    assert (q3.grad - q1.grad).abs().max() > 1e-4  # the plan's own gradient is not negligible


@pytest.mark.parametrize('kind', ['signed', 'relu'])
@pytest.mark.parametrize('cost', ['easy', 'hard'])
def test_no_nan_at_eps_001(kind, cost):
    q, k = features(b=2, n=64, c=16, dtype=torch.float32, kind=kind)
    q.requires_grad_(True)
    loss = monce_loss(q, k, eps=0.01, cost=cost, modulate_positive=True)
    loss.mean().backward()
    assert torch.isfinite(loss).all() and torch.isfinite(q.grad).all()
    # finite and right: float32 agrees with the same loss in float64, to float32's rounding of
    # s/tau ~ 14 (the 'easy' losses here are ~1e-8..1e-4, below that: only 'hard' is a real check)
    q64 = q.detach().double().requires_grad_(True)
    reference = monce_loss(q64, k.double(), eps=0.01, cost=cost, modulate_positive=True)
    reference.mean().backward()
    torch.testing.assert_close(loss.double(), reference, rtol=0, atol=5e-6)
    torch.testing.assert_close(q.grad.double(), q64.grad, rtol=0, atol=2e-6)


@pytest.mark.parametrize('loss', ['patchnce', 'weightnce', 'monce'])
def test_keys_get_no_gradient(loss):
    fn = {'patchnce': patchnce_loss, 'weightnce': weightnce_loss, 'monce': monce_loss}[loss]
    q, k = features()
    q.requires_grad_(True)
    k.requires_grad_(True)
    fn(q, k).sum().backward()
    assert q.grad is not None and k.grad is None


def test_losses_are_float32_under_autocast():
    q, k = features(dtype=torch.float32)
    expected = monce_loss(q.bfloat16(), k.bfloat16())
    with torch.autocast('cpu', dtype=torch.bfloat16):
        loss = monce_loss(q.bfloat16(), k.bfloat16())
    assert loss.dtype == torch.float32
    torch.testing.assert_close(loss, expected, rtol=0, atol=0)


def test_argument_errors_are_clear():
    q, k = features()
    with pytest.raises(ValueError, match='cost'):
        monce_loss(q, k, cost='medium')
    with pytest.raises(ValueError, match='weighting'):
        weightnce_loss(q, k, weighting='soft')
    with pytest.raises(ValueError, match='Q'):
        monce_loss(q, k, Q=0.0)
    with pytest.raises(ValueError, match='2 patches'):
        weightnce_loss(q[:, :1], k[:, :1])


# ------------------------------------------------------------ the released paired code
@pytest.mark.parametrize('kind', ['signed', 'relu'])
@pytest.mark.parametrize('seed', [0, 1])
def test_official_settings_reproduce_the_released_loss(kind, seed):
    q, k = features(b=2, n=64, c=32, kind=kind, seed=seed)
    expected = released_monce(q, k)
    torch.testing.assert_close(official(q, k), expected, rtol=0, atol=1e-5)  # default tolerance
    # the residual is the released kernel's exp(-10) on the diagonal, where ours has exactly 0
    torch.testing.assert_close(official(q, k, sinkhorn_tol=0.0, weight_floor=1e-8), expected, rtol=0, atol=1e-6)
    q32, k32 = q.float(), k.float()
    torch.testing.assert_close(official(q32, k32), released_monce(q32, k32), rtol=0, atol=1e-5)


def test_official_settings_reproduce_the_released_gradient():
    # the released code back-propagates through its 50 Sinkhorn iterations
    q, k = features(b=2, n=32, c=16, kind='relu')
    q1, q2 = q.clone().requires_grad_(True), q.clone().requires_grad_(True)
    official(q1, k, sinkhorn_tol=0.0, weight_floor=1e-8).sum().backward()
    released_monce(q2, k).sum().backward()
    torch.testing.assert_close(q1.grad, q2.grad, rtol=1e-4, atol=1e-6)
