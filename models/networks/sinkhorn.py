"""Entropic optimal transport between uniform marginals, by Sinkhorn scaling in the log domain.

The plan of a square log-kernel ``log K`` (``-inf`` marks forbidden pairs) is
``P_ij = exp(log K_ij + f_i + g_j)`` with log-potentials ``f, g`` chosen so that every row and
every column of P sums to 1. The potentials are found by alternating row and column steps,
``f_i = -logsumexp_j(log K_ij + g_j)`` then ``g_j = -logsumexp_i(log K_ij + f_i)``, starting
from ``g = 0`` as the released MoNCE code does (its linear-domain kernel ``exp(c/eps)``
overflows float32 once c/eps > ~88; log-potentials never do).

Batches: every (N, N) matrix of the input is a problem of its own. It stops (its potentials
are frozen) at the first step where its own rows meet the tolerance, whatever the others do, so
a problem's plan does not depend on what it is solved with: stacking the layers of a loss into
one call gives each layer the plan it would get alone, with fewer, larger kernels.

Speed: each log-sum-exp is taken around a shift made of the row's largest ``log K`` and the
largest potential, so that a step is one batched vector-matrix product on ``exp(log K -
rowmax)``. That is exact arithmetic, and safe in floating point as long as no sum underflows;
the solve checks that, and redoes the problems where it fails (large cost/eps ranges, e.g.
eps ~ 0.01) with a per-entry log-sum-exp at every step.

Fixed mode (``fixed=True``): every one of ``max_iters`` steps runs, forward and adjoint, and
nothing is read back to the host (no ``.item()``, no branch on a value), so CUDA graphs and
``torch.compile`` can capture the solve. Converged problems are still frozen, on the device, so
the answer is the one the adaptive mode gives. It uses the per-entry log-sum-exp throughout,
which needs no underflow check (and which ``torch.compile`` fuses into one kernel per step).

Gradients: the solve runs without autograd; the backward pass differentiates the converged
plan implicitly (through its marginal constraints), solving the adjoint system with the same
alternating scheme, tolerance, cap and per-problem freezing. Nothing per step is stored. Where
the solve converged, this is the gradient of the plan that was returned (and equals
back-propagating through the unrolled iterations, which is what the released code does); where
it stopped at the cap unconverged (eps ~ 0.01), it is a finite approximation of the exact
plan's gradient. Everything runs in at least float32, outside autocast.
"""
import math

import torch

# a matrix-vector sum below this cannot be trusted: a term lost to underflow (< ~1e-38 in
# float32) could be as large as the whole sum; above it such terms are negligible
_SMALLEST_SAFE_SUM = {torch.float32: 1e-20, torch.float64: 1e-200}
GPU_CHECK_EVERY = 4


def sinkhorn_log(log_kernel: torch.Tensor, max_iters: int = 100, tol: float = 1e-5, log_scale: float = 0.0,
                 fixed: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Log of the plan whose rows and columns each sum to 1 (times ``exp(log_scale)``), and
    the number of steps each problem used.

    ``log_kernel``: (..., N, N), ``log K_ij = c_ij / eps``, ``-inf`` for forbidden pairs (every
    row and column needs an allowed pair); each (N, N) matrix is an independent problem. After
    each column step the columns are exact; a problem stops once its rows sum to 1 within
    ``tol`` too, or after ``max_iters`` row+column steps (``tol = 0`` runs exactly
    ``max_iters``). The backward pass solves its adjoint system to the same tolerance and cap.
    ``fixed``: no host reads (see the module's docstring). Returns the log-plan (float32 or
    float64, shaped as the input) and the steps (int64, shaped as the leading dimensions).
    """
    if max_iters < 1:
        raise ValueError(f'max_iters must be >= 1, got {max_iters}')
    with torch.autocast(log_kernel.device.type, enabled=False):
        log_kernel = log_kernel.to(torch.promote_types(log_kernel.dtype, torch.float32))
        shape = log_kernel.shape
        flat = log_kernel.reshape(-1, shape[-2], shape[-1])
        with torch.no_grad():
            f, g, steps = solve_potentials(flat, max_iters, tol, fixed)
        log_plan = _ImplicitPlan.apply(flat, f + log_scale, g, max_iters, tol, log_scale, fixed)
        return log_plan.reshape(shape), steps.reshape(shape[:-2])


def solve_potentials(log_kernel: torch.Tensor, max_iters: int, tol: float,
                     fixed: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(f, g, steps per problem) for a (B, N, N) log-kernel; no autograd."""
    # a per-row constant leaves the plan unchanged; removing it keeps the potentials small,
    # which float32's precision needs to meet a tight tolerance
    row_max = log_kernel.amax(dim=-1, keepdim=True)
    shifted = log_kernel - row_max
    if fixed:
        u, w, steps = _solve(_LogKernel(shifted), max_iters, tol, exit_early=False)
    else:
        fast = _ScaledKernel(shifted)
        u, w, steps = _solve(fast, max_iters, tol, exit_early=True)
        unsafe = fast.underflowed()
        if unsafe.any():  # only those problems are redone, so the others keep their answer
            redo = unsafe.nonzero().squeeze(-1)
            u[redo], w[redo], steps[redo] = _solve(_LogKernel(shifted[redo]), max_iters, tol, exit_early=True)
    return -(u + row_max.squeeze(-1)), -w, steps


def _solve(kernel: '_LogKernel', max_iters: int, tol: float,
           exit_early: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    # the solve runs on the log-sums u = -f and w = -g themselves: no negation per half-step
    u = kernel.row_lse(kernel.zeros())
    w = kernel.col_lse(u)
    # the next row step would rescale row i by exp(u_i - u_next_i), so its sum is now
    # exp(u_next_i - u_i): within tol of 1 where |u_next_i - u_i| <= log(1 + tol)
    limit = math.log1p(tol)
    running = torch.ones(u.shape[0], dtype=torch.bool, device=u.device)
    history = []  # running after each step: the steps each problem took, counted once at the end
    for step in range(1, max_iters):
        u_next = kernel.row_lse(w)
        if tol > 0:
            running = running & (torch.linalg.vector_norm(u_next - u, ord=math.inf, dim=-1) > limit)
            history.append(running)
        # a converged problem keeps its u and w, so later steps (run for the others) leave it alone
        keep = running.unsqueeze(-1)
        u = torch.where(keep, u_next, u)
        w = torch.where(keep, kernel.col_lse(u), w)
        if exit_early and tol > 0 and _time_to_check(step, u) and not running.any():
            break
    if history:
        steps = torch.stack(history).sum(dim=0) + 1
    else:
        steps = torch.full(running.shape, max_iters, dtype=torch.long, device=u.device)
    return u, w, steps


def _time_to_check(step: int, x: torch.Tensor) -> bool:
    # "all converged?" reads one number back from the device; on a GPU that host sync stalls the
    # launch queue, so it is asked every few steps there (the extra steps change no answer)
    return x.device.type == 'cpu' or step % GPU_CHECK_EVERY == 0


class _LogKernel:
    """Row and column log-sum-exps of ``log K - log-sum``, entry by entry: always safe.
    (``row_lse(w)_i = log sum_j K_ij exp(-w_j)``, the negated row potential.)"""

    def __init__(self, log_kernel: torch.Tensor) -> None:
        self.log_kernel = log_kernel

    def zeros(self) -> torch.Tensor:
        return self.log_kernel.new_zeros(self.log_kernel.shape[:-1])

    def row_lse(self, w: torch.Tensor) -> torch.Tensor:
        return torch.logsumexp(self.log_kernel - w.unsqueeze(-2), dim=-1)

    def col_lse(self, u: torch.Tensor) -> torch.Tensor:
        return torch.logsumexp(self.log_kernel - u.unsqueeze(-1), dim=-2)


class _ScaledKernel(_LogKernel):
    """The same log-sum-exps, each taken around the shift (row max of log K) - (smallest
    log-sum), so that a step is a batched vector-matrix product on ``exp(log K)``.

    Exact in exact arithmetic; in floating point it holds while no sum underflows, which
    ``underflowed()`` reports per problem (large cost/eps ranges, e.g. eps ~ 0.01), and the
    caller then redoes those problems entry by entry.
    """

    def __init__(self, log_kernel: torch.Tensor) -> None:  # rows already shifted to max 0
        super().__init__(log_kernel)
        self.kernel = torch.exp(log_kernel)  # in [0, 1], 0 where forbidden
        self.smallest: list[torch.Tensor] = []  # per half-step, each problem's smallest sum

    def row_lse(self, w: torch.Tensor) -> torch.Tensor:
        # vector-times-transposed-view: as fast as a copy would be, and much faster than K @ v
        return self._lse(w, self.kernel.transpose(-1, -2))

    def col_lse(self, u: torch.Tensor) -> torch.Tensor:
        return self._lse(u, self.kernel)

    def _lse(self, log_sums: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
        low = log_sums.amin(dim=-1, keepdim=True)
        sums = torch.bmm(torch.exp(low - log_sums).unsqueeze(-2), kernel).squeeze(-2)
        self.smallest.append(sums.amin(dim=-1))
        return torch.log(sums) - low

    def underflowed(self) -> torch.Tensor:
        """Per problem: did some sum fall below what float arithmetic can be trusted with?"""
        smallest = torch.stack(self.smallest).amin(dim=0)
        return ~(smallest >= _SMALLEST_SAFE_SUM.get(self.kernel.dtype, 1e-20))


class _ImplicitPlan(torch.autograd.Function):
    """log P from log K and the converged potentials, differentiated through the constraints.

    With Gamma = dL/dlogP, a = row sums and b = column sums of Gamma, and P the plan with unit
    marginals (the output divided by exp(log_scale)),
    ``dL/dlogK_ij = Gamma_ij - P_ij (alpha_i + beta_j)`` where ``alpha + P beta = a`` and
    ``P^T alpha + beta = b`` (the transposed linearised marginal constraints).
    """

    @staticmethod
    def forward(ctx, log_kernel, f, g, max_iters, tol, log_scale, fixed):
        log_plan = torch.add(log_kernel, f.unsqueeze(-1)).add_(g.unsqueeze(-2))
        ctx.save_for_backward(log_plan)
        ctx.max_iters, ctx.tol, ctx.log_scale, ctx.fixed = max_iters, tol, log_scale, fixed
        return log_plan

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_log_plan):
        (log_plan,) = ctx.saved_tensors
        # the saved plan carries the factor exp(log_scale); the constraints are those of
        # plan / scale, so every product with it is divided by the scale instead
        scaled_plan = torch.exp(log_plan)
        inv_scale = math.exp(-ctx.log_scale)
        alpha, beta = _adjoint(scaled_plan, inv_scale, grad_log_plan.sum(-1), grad_log_plan.sum(-2),
                               ctx.max_iters, ctx.tol, exit_early=not ctx.fixed)
        outer = alpha.unsqueeze(-1) + beta.unsqueeze(-2)
        grad = torch.addcmul(grad_log_plan, scaled_plan, outer, value=-inv_scale)
        return grad, None, None, None, None, None, None


def _adjoint(scaled_plan: torch.Tensor, inv_scale: float, a: torch.Tensor, b: torch.Tensor, max_iters: int,
             tol: float, exit_early: bool) -> tuple[torch.Tensor, torch.Tensor]:
    # alternating solve in the order of the forward's steps; it converges at the same rate.
    # Each problem stops on its own change of beta, relative to its own largest |a|, |b|.
    plan_t = scaled_plan.transpose(-1, -2)
    largest = torch.linalg.vector_norm(torch.cat([a, b], dim=-1), ord=math.inf, dim=-1)
    limit = largest.clamp_min(torch.finfo(a.dtype).tiny) * tol
    running = torch.ones(a.shape[0], dtype=torch.bool, device=a.device)
    a, b = a.unsqueeze(-2), b.unsqueeze(-2)  # (B, 1, N): each update is one batched a - P v
    alpha, beta = torch.zeros_like(a), torch.zeros_like(b)
    for step in range(max_iters):
        alpha_next = torch.baddbmm(a, beta, plan_t, alpha=-inv_scale)
        beta_next = torch.baddbmm(b, alpha_next, scaled_plan, alpha=-inv_scale)
        keep = running.view(-1, 1, 1)
        alpha = torch.where(keep, alpha_next, alpha)
        if tol > 0:
            running = running & (torch.linalg.vector_norm(beta_next - beta, ord=math.inf, dim=(-2, -1)) > limit)
        beta = torch.where(keep, beta_next, beta)
        if exit_early and tol > 0 and _time_to_check(step, a) and not running.any():
            break
    return alpha.squeeze(-2), beta.squeeze(-2)


def marginal_errors(log_plan: torch.Tensor) -> tuple[float, float]:
    """(max |row sum - 1|, max |column sum - 1|) of a log-plan; for checks and tests."""
    plan = log_plan.detach().exp()
    return (plan.sum(-1) - 1).abs().max().item(), (plan.sum(-2) - 1).abs().max().item()
