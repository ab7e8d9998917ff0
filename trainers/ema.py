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
        for shadow, live in zip(self.shadow.parameters(), net.parameters()):
            shadow.lerp_(live.detach(), 1.0 - decay)
        for shadow, live in zip(self.shadow.buffers(), net.buffers()):
            shadow.copy_(live)

    def state_dict(self) -> dict:
        return self.shadow.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.shadow.load_state_dict(state, strict=True)
