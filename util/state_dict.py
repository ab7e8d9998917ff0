"""State dicts on disk: read them safely, and say how one differs from what a module expects.

Every checkpoint and pretrained-weights file of the project goes through :func:`read_state_dict`
(``weights_only=True``: a file can hold tensors, never code to run) and every mismatch through
:func:`compare`, so each way a file can be wrong gets the same clear one-line message.
"""
import os
from dataclasses import dataclass, field
from typing import Callable

import torch

from util.errors import CheckpointError

SHOW = 5  # how many keys a message lists


def read_state_dict(path: str, what: str = 'checkpoint') -> dict:
    """``torch.load(path, weights_only=True)`` on the CPU; :class:`CheckpointError` naming
    ``what`` and ``path`` for a missing, truncated or corrupt file or one without a dict."""
    if os.path.isdir(path):
        raise CheckpointError(f'{what} {path} is a folder, not a file')
    if not os.path.isfile(path):
        raise CheckpointError(f'{what} not found: {path}')
    try:
        state = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as exc:  # pickle, zip, I/O and torch errors alike: not a usable file
        raise CheckpointError(f'{what} {path} is truncated, corrupt or not a PyTorch state dict ({_reason(exc)})')
    if not isinstance(state, dict):
        raise CheckpointError(f'{what} {path} does not hold a state dict (found {type(state).__name__})')
    return state


def _reason(exc: Exception) -> str:
    text = ' '.join(str(exc).split())
    if 'Weights only load failed' in text:  # torch's advice there (to load unsafely) is not ours to give
        return 'not tensors saved by torch.save; loading it would mean running code from the file, which is refused'
    if len(text) < 20:  # e.g. a bare KeyError(101) from unpickling a text file: say what raised it
        return f'{type(exc).__name__} {text}'.strip()
    return text[:200]


def strip_module_prefix(state: dict) -> dict:
    """Keys without the ``module.`` that DataParallel / DDP wrappers put in front."""
    return {(k[len('module.'):] if k.startswith('module.') else k): v for k, v in state.items()}


@dataclass
class Mismatch:
    """How a state dict found in a file differs from the one a module expects."""
    missing: list = field(default_factory=list)      # keys the module has and the file lacks
    unexpected: list = field(default_factory=list)   # keys the file has and the module lacks
    reshaped: list = field(default_factory=list)     # (key, shape in file, shape here)

    def __bool__(self) -> bool:
        return bool(self.missing or self.unexpected or self.reshaped)

    def describe(self) -> str:
        """'' when nothing differs, else one line listing the first keys of each kind."""
        parts = []
        if self.missing:
            parts.append(f'missing keys {first(self.missing)}')
        if self.unexpected:
            parts.append(f'unexpected keys {first(self.unexpected)}')
        if self.reshaped:
            parts.append('shape differences ' + first([f'{k} {tuple(a)} in file vs {tuple(b)} here'
                                                        for k, a, b in self.reshaped]))
        return '; '.join(parts)


def compare(expected: dict, found: dict, may_lack: Callable[[str], bool] = lambda key: False,
            extra_allowed: bool = False) -> Mismatch:
    """The :class:`Mismatch` of ``found`` against ``expected`` (both key -> tensor); keys for
    which ``may_lack`` is true may be missing, and with ``extra_allowed`` the file may hold more."""
    return Mismatch(
        missing=[k for k in expected if k not in found and not may_lack(k)],
        unexpected=[] if extra_allowed else [k for k in found if k not in expected],
        reshaped=[(k, tuple(found[k].shape), tuple(v.shape)) for k, v in expected.items()
                  if k in found and tuple(found[k].shape) != tuple(v.shape)])


def identical(a: dict, b: dict) -> bool:
    """Whether two state dicts hold the same keys and, bit for bit, the same tensors."""
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def first(items: list) -> str:
    shown = ', '.join(str(item) for item in items[:SHOW])
    return shown + (f' (and {len(items) - SHOW} more)' if len(items) > SHOW else '')
