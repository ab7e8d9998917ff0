"""Entropic optimal transport between uniform marginals, by Sinkhorn scaling in the log domain.

The plan of a square log-kernel ``log K`` (``-inf`` marks forbidden pairs) is
``P_ij = exp(log K_ij + f_i + g_j)`` with log-potentials ``f, g`` chosen so that every row and
every column of P sums to 1. The potentials are found by alternating row and column steps,
``f_i = -logsumexp_j(log K_ij + g_j)`` then ``g_j = -logsumexp_i(log K_ij + f_i)``, starting
from ``g = 0`` as the released MoNCE code does (its linear-domain kernel ``exp(c/eps)``
overflows float32 once c/eps > ~88; log-potentials never do).

Speed: each log-sum-exp is taken around a shift made of the row's largest ``log K`` and the
largest potential, so that a step is one batched vector-matrix product on ``exp(log K -
rowmax)``. That is exact arithmetic, and safe in floating point as long as no sum underflows;
the solve checks that, and where it fails (large cost/eps ranges, e.g. eps ~ 0.01) redoes
every step as a per-entry log-sum-exp.

Gradients: the solve runs without autograd; the backward pass differentiates the converged
plan implicitly (through its marginal constraints), solving the adjoint system with the same
alternating scheme, tolerance and cap. Nothing per step is stored. Where the solve converged,
this is the gradient of the plan that was returned (and equals back-propagating through the
unrolled iterations, which is what the released code does); where it stopped at the cap
unconverged (eps ~ 0.01), it is a finite approximation of the exact plan's gradient.
Everything runs in at least float32, outside autocast.
"""
import math
from typing import Optional

import torch

# a matrix-vector sum below this cannot be trusted: a term lost to underflow (< ~1e-38 in
# float32) could be as large as the whole sum; above it such terms are negligible
_SMALLEST_SAFE_SUM = {torch.float32: 1e-20, torch.float64: 1e-200}
GPU_CHECK_EVERY = 4


def sinkhorn_log(log_kernel: torch.Tensor, max_iters: int = 100, tol: float = 1e-5,
                 log_scale: float = 0.0) -> tuple[torch.Tensor, int]:
    """Log of the plan whose rows and columns each sum to 1 (times ``exp(log_scale)``), and
    the number of steps used.

    ``log_kernel``: (..., N, N), ``log K_ij = c_ij / eps``, ``-inf`` for forbidden pairs (every
    row and column needs an allowed pair). After each column step the columns are exact; the
    solve stops once every row sums to 1 within ``tol`` too, or after ``max_iters`` row+column
    steps (``tol = 0`` runs exactly ``max_iters``). The backward pass solves its adjoint system
    to the same tolerance and cap. The log-plan is float32 or float64, shaped as the input.
    """
    if max_iters < 1:
        raise ValueError(f'max_iters must be >= 1, got {max_iters}')
    with torch.autocast(log_kernel.device.type, enabled=False):
        log_kernel = log_kernel.to(torch.promote_types(log_kernel.dtype, torch.float32))
        shape = log_kernel.shape
        flat = log_kernel.reshape(-1, shape[-2], shape[-1])
        with torch.no_grad():
            f, g, steps = solve_potentials(flat, max_iters, tol)
        log_plan = _ImplicitPlan.apply(flat, f + log_scale, g, max_iters, tol, log_scale)
        return log_plan.reshape(shape), steps


def solve_potentials(log_kernel: torch.Tensor, max_iters: int, tol: float) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(f, g, steps) for a (B, N, N) log-kernel; no autograd."""
    # a per-row constant leaves the plan unchanged; removing it keeps the potentials small,
    # which float32's precision needs to meet a tight tolerance
    row_max = log_kernel.amax(dim=-1, keepdim=True)
    shifted = log_kernel - row_max
    fast = _ScaledKernel(shifted)
    f, g, steps = _solve(fast, max_iters, tol)
    if fast.underflowed():
        f, g, steps = _solve(_LogKernel(shifted), max_iters, tol)
    return f - row_max.squeeze(-1), g, steps


def _solve(kernel: '_LogKernel', max_iters: int, tol: float) -> tuple[torch.Tensor, torch.Tensor, int]:
    f: Optional[torch.Tensor] = None
    g = kernel.zeros()
    steps = 0
    # the stopping test reads one number back from the device; on a GPU that host sync stalls
    # the launch queue, so it is taken every few steps there (a few extra cheap steps instead)
    check_every = 1 if g.device.type == 'cpu' else GPU_CHECK_EVERY
    while steps < max_iters:
        f_next = -kernel.row_lse(g)
        if f is not None and tol > 0 and steps % check_every == 0 and _row_error(f, f_next) <= tol:
            break
        f = f_next
        g = -kernel.col_lse(f)
        steps += 1
    return f, g, steps


def _row_error(f: torch.Tensor, f_next: torch.Tensor) -> float:
    # the next row step would rescale row i by exp(f_next_i - f_i): its sum is exp(f_i - f_next_i)
    return torch.expm1(f - f_next).abs().max().item()


class _LogKernel:
    """Row and column log-sum-exps of ``log K + potential``, entry by entry: always safe."""

    def __init__(self, log_kernel: torch.Tensor) -> None:
        self.log_kernel = log_kernel

    def zeros(self) -> torch.Tensor:
        return self.log_kernel.new_zeros(self.log_kernel.shape[:-1])

    def row_lse(self, g: torch.Tensor) -> torch.Tensor:
        return torch.logsumexp(self.log_kernel + g.unsqueeze(-2), dim=-1)

    def col_lse(self, f: torch.Tensor) -> torch.Tensor:
        return torch.logsumexp(self.log_kernel + f.unsqueeze(-1), dim=-2)


class _ScaledKernel(_LogKernel):
    """The same log-sum-exps, each taken around the shift (row max of log K) + (largest
    potential), so that a step is a batched vector-matrix product on ``exp(log K)``.

    Exact in exact arithmetic; in floating point it holds while no sum underflows, which
    ``underflowed()`` reports (large cost/eps ranges, e.g. eps ~ 0.01), and the caller then
    redoes the solve entry by entry.
    """

    def __init__(self, log_kernel: torch.Tensor) -> None:  # rows already shifted to max 0
        super().__init__(log_kernel)
        self.kernel = torch.exp(log_kernel)  # in [0, 1], 0 where forbidden
        self.smallest = torch.full((), math.inf, dtype=log_kernel.dtype, device=log_kernel.device)

    def row_lse(self, g: torch.Tensor) -> torch.Tensor:
        # vector-times-transposed-view: as fast as a copy would be, and much faster than K @ v
        return self._lse(g, self.kernel.transpose(-1, -2))

    def col_lse(self, f: torch.Tensor) -> torch.Tensor:
        return self._lse(f, self.kernel)

    def _lse(self, potential: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
        top = potential.amax(dim=-1, keepdim=True)
        sums = torch.bmm(torch.exp(potential - top).unsqueeze(-2), kernel).squeeze(-2)
        self.smallest = torch.minimum(self.smallest, sums.amin())
        return torch.log(sums) + top

    def underflowed(self) -> bool:
        return not self.smallest.item() >= _SMALLEST_SAFE_SUM.get(self.kernel.dtype, 1e-20)


class _ImplicitPlan(torch.autograd.Function):
    """log P from log K and the converged potentials, differentiated through the constraints.

    With Gamma = dL/dlogP, a = row sums and b = column sums of Gamma, and P the plan with unit
    marginals (the output divided by exp(log_scale)),
    ``dL/dlogK_ij = Gamma_ij - P_ij (alpha_i + beta_j)`` where ``alpha + P beta = a`` and
    ``P^T alpha + beta = b`` (the transposed linearised marginal constraints).
    """

    @staticmethod
    def forward(ctx, log_kernel, f, g, max_iters, tol, log_scale):
        log_plan = torch.add(log_kernel, f.unsqueeze(-1)).add_(g.unsqueeze(-2))
        ctx.save_for_backward(log_plan)
        ctx.max_iters, ctx.tol, ctx.log_scale = max_iters, tol, log_scale
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
                               ctx.max_iters, ctx.tol)
        outer = alpha.unsqueeze(-1) + beta.unsqueeze(-2)
        grad = torch.addcmul(grad_log_plan, scaled_plan, outer, value=-inv_scale)
        return grad, None, None, None, None, None


def _adjoint(scaled_plan: torch.Tensor, inv_scale: float, a: torch.Tensor, b: torch.Tensor, max_iters: int,
             tol: float) -> tuple[torch.Tensor, torch.Tensor]:
    # alternating solve in the order of the forward's steps; it converges at the same rate
    plan_t = scaled_plan.transpose(-1, -2)
    scale = torch.maximum(a.abs().max(), b.abs().max()).clamp_min(torch.finfo(a.dtype).tiny)
    check_every = 1 if a.device.type == 'cpu' else GPU_CHECK_EVERY  # host syncs, as in _solve
    beta = torch.zeros_like(b)
    for step in range(max_iters):
        alpha = a - inv_scale * torch.bmm(beta.unsqueeze(-2), plan_t).squeeze(-2)
        beta_next = b - inv_scale * torch.bmm(alpha.unsqueeze(-2), scaled_plan).squeeze(-2)
        converged = tol > 0 and step % check_every == 0 and bool((beta_next - beta).abs().max() <= tol * scale)
        beta = beta_next
        if converged:
            break
    return alpha, beta


def marginal_errors(log_plan: torch.Tensor) -> tuple[float, float]:
    """(max |row sum - 1|, max |column sum - 1|) of a log-plan; for checks and tests."""
    plan = log_plan.detach().exp()
    return (plan.sum(-1) - 1).abs().max().item(), (plan.sum(-2) - 1).abs().max().item()
