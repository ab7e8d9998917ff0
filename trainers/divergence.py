"""Stopping a diverging run before it saves broken weights.

Every iteration the loss values are screened on the device (no host synchronisation: the
verdict is accumulated in small tensors); the loop reads the verdict only where it already
waits for the device — when it prints losses, before it saves or evaluates. A run diverged if
a loss term exceeded ``--max_loss``, if a loss was not finite (with ``--amp fp16`` only if
every iteration since the last look was: fp16's loss scaler skips the odd overflowing step
by design), or if a weight about to be saved is not finite.
"""
import math
from typing import Iterable, Optional

import torch

from trainers.distributed import Context, max_over_ranks
from util.errors import UserError


class TrainingDiverged(UserError):
    """The losses or weights of the run are no longer finite or have exploded."""


class DivergenceWatch:
    def __init__(self, max_loss: float, tolerate_overflow: bool, ctx: Context) -> None:
        self.max_loss = max_loss if max_loss > 0 else math.inf
        self.tolerate_overflow = tolerate_overflow
        self.ctx = ctx
        self.reset()

    def reset(self) -> None:
        self.iterations = 0
        self.names: Optional[list] = None
        self.nonfinite = torch.zeros((), dtype=torch.int64, device=self.ctx.device)  # iterations
        self.too_large = torch.zeros((), dtype=torch.int64, device=self.ctx.device)  # iterations
        self.first_bad = torch.full((), -1, dtype=torch.int64, device=self.ctx.device)
        self.first_values: Optional[torch.Tensor] = None

    def observe(self, losses: dict, iteration: int) -> None:
        """Screen one iteration's losses (0-d tensors), without waiting for the device."""
        names = sorted(losses)
        values = torch.stack([losses[k].detach().float().reshape(()) for k in names])
        if names != self.names or self.first_values is None:
            self.names, self.first_values = names, torch.zeros_like(values)
        finite = torch.isfinite(values)
        nonfinite = (~finite).any()
        too_large = (finite & (values.abs() > self.max_loss)).any()
        first = (nonfinite | too_large) & (self.first_bad < 0)
        self.first_bad = torch.where(first, torch.full_like(self.first_bad, iteration), self.first_bad)
        self.first_values = torch.where(first, values, self.first_values)
        self.nonfinite = self.nonfinite + nonfinite.long()
        self.too_large = self.too_large + too_large.long()
        self.iterations += 1

    def check(self, where: str, weights: Iterable[torch.Tensor] = ()) -> None:
        """Raise :class:`TrainingDiverged` (on every process alike) if the run diverged since
        the last check, or if any of ``weights`` is not finite; ``where`` names the moment."""
        weights_ok = torch.ones((), dtype=torch.bool, device=self.ctx.device)
        for tensor in weights:
            if tensor.is_floating_point():
                weights_ok = weights_ok & torch.isfinite(tensor).all()
        local = torch.stack([self._losses_diverged().long(), (~weights_ok).long()]).tolist()
        losses_bad, weights_bad = max_over_ranks(local, self.ctx)
        if losses_bad or weights_bad:
            raise TrainingDiverged(self._message(where, bool(losses_bad)))
        self.reset()

    def _losses_diverged(self) -> torch.Tensor:
        if self.tolerate_overflow:
            overflowing = self.nonfinite >= max(1, self.iterations)
        else:
            overflowing = self.nonfinite > 0
        return overflowing | (self.too_large > 0)

    def _message(self, where: str, losses_bad: bool) -> str:
        advice = ('lower --lr, check the data, or resume from an earlier snapshot with --continue_train '
                  '--which_epoch N')
        if not losses_bad:
            return f'training diverged: the weights are no longer finite {where}; they were not saved; {advice}'
        iteration = int(self.first_bad)
        values = self.first_values.tolist() if self.first_values is not None else []
        shown = ', '.join(f'{name} {value:.4g}' for name, value in zip(self.names or [], values))
        limit = '' if math.isinf(self.max_loss) else f' or above --max_loss {self.max_loss:g}'
        at = f'at iteration {iteration}' if iteration >= 0 else 'in every iteration'
        return (f'training diverged {at} (losses not finite{limit}: {shown}); stopped {where}; '
                f'these weights were not saved; {advice}')
