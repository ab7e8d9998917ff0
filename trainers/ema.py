"""Exponential moving average of the generator's weights (SPADE has none; OASIS and
imaginaire use a decay of 0.9999). Evaluation and test.py use the averaged copy."""
import copy

import torch
import torch.nn as nn


class GeneratorEMA:
    """Keeps ``shadow``, a copy of ``net`` whose parameters follow
    ``shadow = decay * shadow + (1 - decay) * net`` after each generator step. Buffers
    (BatchNorm statistics, spectral-norm vectors) are copied, as they are not learned.
    Before ``start_iter`` the copy simply tracks the network."""

    def __init__(self, net: nn.Module, decay: float, start_iter: int = 0) -> None:
        self.decay = decay
        self.start_iter = start_iter
        self.shadow = copy.deepcopy(net).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, net: nn.Module, iteration: int) -> None:
        decay = self.decay if iteration >= self.start_iter else 0.0
        # multi-tensor ops: one kernel for all ~100 M parameters instead of one per tensor
        torch._foreach_lerp_(list(self.shadow.parameters()), [p.detach() for p in net.parameters()], 1.0 - decay)
        torch._foreach_copy_(list(self.shadow.buffers()), list(net.buffers()))

    def state_dict(self) -> dict:
        return self.shadow.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.shadow.load_state_dict(state, strict=True)
