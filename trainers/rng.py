"""Every random generator's state as plain values, for exact resumption.

The states are plain Python values (bytes, lists), which both ``all_gather_object`` and
``torch.load(weights_only=True)`` accept.
"""
import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)


def capture_rng() -> dict:
    kind, keys, *rest = np.random.get_state()
    state = {'python': random.getstate(), 'numpy': (kind, keys.tolist(), *rest),
             'torch': bytes(torch.get_rng_state().numpy())}
    if torch.cuda.is_available():
        state['cuda'] = [bytes(s.numpy()) for s in torch.cuda.get_rng_state_all()]
    return state


def restore_rng(state: dict) -> None:
    random.setstate(_as_tuples(state['python']))
    kind, keys, *rest = state['numpy']
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), *rest))
    torch.set_rng_state(_byte_tensor(state['torch']))
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([_byte_tensor(s) for s in state['cuda']])


def _byte_tensor(payload: bytes) -> torch.Tensor:
    return torch.frombuffer(bytearray(payload), dtype=torch.uint8)


def _as_tuples(value):
    return tuple(_as_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value
