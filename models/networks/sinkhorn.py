"""Entropic optimal transport between uniform marginals, by Sinkhorn scaling in the log domain.

Working with log-potentials and log-sum-exp keeps every step finite for any cost/eps ratio
(a linear-domain kernel exp(c/eps) overflows float32 once c/eps > ~88), and forbidden pairs
are simply -inf in the log-kernel. The solve always runs in at least float32, outside
autocast. Gradients flow through the unrolled iterations, so they are exact for the plan that
was computed.
"""
from typing import Optional

import torch


def sinkhorn_log(log_kernel: torch.Tensor, max_iters: int = 100, tol: float = 1e-5) -> tuple[torch.Tensor, int]:
    """Log of the plan ``P = diag(u) K diag(v)`` whose rows and columns each sum to 1.

    ``log_kernel``: (..., N, N), ``log K_ij = c_ij / eps``, ``-inf`` where a pair is forbidden
    (every row and column needs at least one allowed pair). The scalings alternate rows then
    columns, starting from ``v = 1`` as the released MoNCE code does. After each column step the
    columns are exact; the solve stops once every row sums to 1 within ``tol`` too, or after
    ``max_iters`` row+column steps (``tol = 0`` runs exactly ``max_iters``). Returns the
    log-plan (same shape, float32 or float64) and the number of row+column steps taken.
    """
    if max_iters < 1:
        raise ValueError(f'max_iters must be >= 1, got {max_iters}')
    with torch.autocast(log_kernel.device.type, enabled=False):
        log_kernel = log_kernel.to(torch.promote_types(log_kernel.dtype, torch.float32))
        # a per-row constant leaves the plan unchanged; removing it keeps the potentials small,
        # which is what float32's precision needs to meet a tight tolerance
        log_kernel = log_kernel - log_kernel.detach().amax(dim=-1, keepdim=True)
        f: Optional[torch.Tensor] = None
        g = torch.zeros_like(log_kernel[..., 0, :])
        steps = 0
        while steps < max_iters:
            f_next = -torch.logsumexp(log_kernel + g.unsqueeze(-2), dim=-1)
            if f is not None and tol > 0 and row_error(f, f_next) <= tol:
                break
            f = f_next
            g = -torch.logsumexp(log_kernel + f.unsqueeze(-1), dim=-2)
            steps += 1
        return log_kernel + f.unsqueeze(-1) + g.unsqueeze(-2), steps


def row_error(f: torch.Tensor, f_next: torch.Tensor) -> float:
    """Largest |row sum - 1| of the plan with row potential ``f``, given the next row update."""
    # the next row step would rescale row i by exp(f_next_i - f_i): its sum is exp(f_i - f_next_i)
    return torch.expm1((f - f_next).detach()).abs().max().item()


def marginal_errors(log_plan: torch.Tensor) -> tuple[float, float]:
    """(max |row sum - 1|, max |column sum - 1|) of a log-plan; for checks and tests."""
    plan = log_plan.detach().exp()
    return (plan.sum(-1) - 1).abs().max().item(), (plan.sum(-2) - 1).abs().max().item()
