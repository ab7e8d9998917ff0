"""Patch-wise contrastive losses: PatchNCE, WeightNCE and MoNCE, as plain functions.

Inputs are L2-normalised features ``q`` (queries, from the synthesised image) and ``k`` (keys,
from the real image) of shape (B, N, C): N patches per image, the same positions in both.
Keys are detached. The negatives of anchor i are the other N-1 keys of the same image. Every
loss is the weighted form (see docs/losses.md)

    l_i = -log( W_ii e^{s_ii/tau} / sum_j W_ij e^{s_ij/tau} ),    s_ij = q_i . k_j

with positive weight W_ii (1 unless modulated) and negative weights W_ij, j != i:
PatchNCE W_ij = 1; WeightNCE W_ij = Q (N-1) softmax_{j != i}(+-s_ij / beta); MoNCE
W_ij = Q (N-1) P_ij with P the entropic optimal-transport plan between the anchors and their
negatives. The self-pair is excluded from the negatives (it is the positive). Each function
returns per-anchor losses (B, N), computed in at least float32 even under autocast.
"""
import math
from typing import Optional

import torch

from models.networks.sinkhorn import sinkhorn_log

COSTS = ('easy', 'hard')


def similarities(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """(B, N, N) matrix ``s_ij = q_i . k_j`` in at least float32; keys get no gradient."""
    dtype = torch.promote_types(q.dtype, torch.float32)
    with torch.autocast(q.device.type, enabled=False):
        return torch.bmm(q.to(dtype), k.detach().to(dtype).transpose(1, 2))


def nce_from_similarities(s: torch.Tensor, tau: float, log_w: Optional[torch.Tensor] = None,
                          log_w_pos: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Per-anchor loss (B, N) from similarities and optional log-weights.

    ``log_w`` (B, N, N): log W_ij of the negatives, -inf on the diagonal; ``log_w_pos``
    (B, N): log W_ii of the positives. Missing weights are 1.
    """
    # s * (1/tau) in both branches, so that unit weights give PatchNCE bit for bit
    if log_w is None:
        negatives = s * (1.0 / tau)
        negatives.diagonal(dim1=-2, dim2=-1).fill_(-math.inf)
    else:
        negatives = torch.add(log_w, s, alpha=1.0 / tau)
    positive = s.diagonal(dim1=-2, dim2=-1) * (1.0 / tau)
    if log_w_pos is not None:
        positive = positive + log_w_pos
    return torch.logaddexp(torch.logsumexp(negatives, dim=-1), positive) - positive


def patchnce_loss(q: torch.Tensor, k: torch.Tensor, tau: float = 0.07) -> torch.Tensor:
    """CUT's PatchNCE: every negative weighs 1."""
    return nce_from_similarities(similarities(q, k), tau)


def weightnce_loss(q: torch.Tensor, k: torch.Tensor, tau: float = 0.07, Q: float = 1.0, beta: float = 0.1,
                   weighting: str = 'easy') -> torch.Tensor:
    """WeightNCE: each anchor re-weights its own negatives, ``W_ij = Q (N-1) softmax_j(+-s_ij/beta)``.

    ``weighting='hard'`` weighs negatives similar to the anchor up, ``'easy'`` weighs dissimilar
    ones up; beta -> infinity gives PatchNCE (scaled by Q).
    """
    s = similarities(q, k)
    return nce_from_similarities(s, tau, weightnce_log_weights(s, Q, beta, weighting))


def monce_loss(q: torch.Tensor, k: torch.Tensor, tau: float = 0.07, Q: float = 1.0, eps: float = 0.1,
               cost: str = 'easy', sinkhorn_iters: int = 100, modulate_positive: bool = False,
               grad_through_plan: bool = True, sinkhorn_tol: float = 1e-5, weight_floor: float = 0.0,
               sinkhorn_fixed: bool = False) -> torch.Tensor:
    """MoNCE: negative weights ``W_ij = Q (N-1) P_ij (+ weight_floor)`` from an OT plan per image.

    ``cost='hard'`` uses ``c = s`` (similar negatives weigh more), ``'easy'`` uses ``c = 1 - s``;
    the plan solves entropic OT with kernel ``exp(c / eps)``, uniform marginals and no self-pairs.
    ``modulate_positive`` also weighs each positive by its anchor's largest negative weight, and
    ``weight_floor`` is added to every weight: the released paired code does both (with 1e-8).
    ``grad_through_plan=False`` treats the plan as a constant. ``sinkhorn_fixed`` runs every
    Sinkhorn step without host reads (see models/networks/sinkhorn.py): the same answer.
    """
    s = similarities(q, k)
    log_w, _ = monce_log_weights(s, Q, eps, cost, sinkhorn_iters, sinkhorn_tol, weight_floor, grad_through_plan,
                                 sinkhorn_fixed)
    log_w_pos = positive_log_weights(log_w) if modulate_positive else None
    return nce_from_similarities(s, tau, log_w, log_w_pos)


def weightnce_log_weights(s: torch.Tensor, Q: float, beta: float, weighting: str) -> torch.Tensor:
    """log W (B, N, N) of WeightNCE; -inf on the diagonal."""
    _check_choice('weighting', weighting)
    sign = 1.0 if weighting == 'hard' else -1.0
    scores = s * (sign / beta)
    scores.diagonal(dim1=-2, dim2=-1).fill_(-math.inf)
    return torch.log_softmax(scores, dim=-1) + _log_total(Q, s.shape[-1])


def monce_log_weights(s: torch.Tensor, Q: float, eps: float, cost: str, sinkhorn_iters: int,
                      sinkhorn_tol: float = 1e-5, weight_floor: float = 0.0,
                      grad_through_plan: bool = True,
                      sinkhorn_fixed: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(log W, Sinkhorn steps used per image) of MoNCE for similarities (..., N, N), -inf on
    the diagonal. Leading dimensions are solved in one call (e.g. layers x images), each
    matrix as if alone; the steps tensor has their shape."""
    _check_choice('cost', cost)
    if not grad_through_plan:
        s = s.detach()
    # 'easy' is c = 1 - s; its constant 1/eps cancels in the plan, so -s/eps is the same kernel
    log_kernel = s * ((1.0 if cost == 'hard' else -1.0) / eps)
    log_kernel.diagonal(dim1=-2, dim2=-1).fill_(-math.inf)
    log_w, steps = sinkhorn_log(log_kernel, sinkhorn_iters, sinkhorn_tol, log_scale=_log_total(Q, s.shape[-1]),
                                fixed=sinkhorn_fixed)
    if weight_floor > 0:
        log_w = torch.logaddexp(log_w, torch.tensor(math.log(weight_floor), dtype=log_w.dtype, device=log_w.device))
        log_w.diagonal(dim1=-2, dim2=-1).fill_(-math.inf)
    return log_w, steps


def positive_log_weights(log_w: torch.Tensor) -> torch.Tensor:
    """log of each anchor's largest negative weight (B, N): the released code's positive weight."""
    return log_w.amax(dim=-1)


def _log_total(Q: float, n: int) -> float:
    # Q (N-1): the negatives of an anchor weigh Q (N-1) in all, as N-1 unit weights do in PatchNCE
    if Q <= 0:
        raise ValueError(f'the negative term weight Q must be > 0, got {Q}')
    if n < 2:
        raise ValueError(f'a contrastive loss needs at least 2 patches per image, got {n}')
    return math.log(Q * (n - 1))


def _check_choice(name: str, value: str) -> None:
    if value not in COSTS:
        raise ValueError(f"{name} must be one of {', '.join(COSTS)}, got {value!r}")
