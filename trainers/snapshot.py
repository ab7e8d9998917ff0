"""Training snapshots: the SPADE-style network files plus one training-state file.

A snapshot with tag T (``latest`` or an epoch number) is ``T_net_G.pth`` (and D, E, G_ema,
heads: plain state dicts, so SPADE tools read them) and ``T_train_state.pth``, written last,
which records the SHA-256 of every network file. A snapshot is valid only if all its files
exist with those hashes, so a crash or a corrupt file is detected, never half-loaded.

Saving ``latest`` first renames the current latest files to ``previous_*``; loading ``latest``
falls back to that previous snapshot (with a warning) when the latest is incomplete or corrupt.
A network file is looked up under both names by its hash, so a crash in the middle of the
renaming loses nothing.
"""
import hashlib
import io
import os
import re
import warnings
from typing import Optional

import torch

from util.checkpoint import read_state_dict
from util.errors import CheckpointError
from util.fileio import atomic_write_bytes

STATE_FORMAT = 1


def net_path(run_dir: str, tag, label: str) -> str:
    return os.path.join(run_dir, f'{tag}_net_{label}.pth')


def state_path(run_dir: str, tag) -> str:
    return os.path.join(run_dir, f'{tag}_train_state.pth')


def save_snapshot(run_dir: str, tag, nets: dict, train_state: dict) -> None:
    """``nets`` maps a label (G, D, E, G_ema, heads) to a CPU state dict."""
    if str(tag) == 'latest':
        _rotate_latest(run_dir, nets)
    hashes = {}
    for label, state in nets.items():
        payload = _serialise(state)
        atomic_write_bytes(net_path(run_dir, tag, label), payload)
        hashes[label] = hashlib.sha256(payload).hexdigest()
    record = dict(train_state, format=STATE_FORMAT, files=hashes)
    atomic_write_bytes(state_path(run_dir, tag), _serialise(record))


def load_snapshot(run_dir: str, tag) -> tuple[dict, dict]:
    """Returns (network state dicts by label, training state) of a valid snapshot."""
    try:
        return _load_valid(run_dir, tag, alternates=('previous',) if str(tag) == 'latest' else ())
    except CheckpointError as latest_problem:
        if str(tag) != 'latest' or not os.path.exists(state_path(run_dir, 'previous')):
            raise
        warnings.warn(f'{latest_problem}; falling back to the previous snapshot')
        return _load_valid(run_dir, 'previous', alternates=('latest',))


def has_train_state(run_dir: str, tag) -> bool:
    return any(os.path.exists(state_path(run_dir, t)) for t in ([tag, 'previous'] if str(tag) == 'latest' else [tag]))


def _load_valid(run_dir: str, tag, alternates: tuple) -> tuple[dict, dict]:
    record = read_state_dict(state_path(run_dir, tag), 'training state')
    if record.get('format') != STATE_FORMAT or 'files' not in record:
        raise CheckpointError(f'{state_path(run_dir, tag)} is not a training state written by this program')
    nets = {label: _find_by_hash(run_dir, label, digest, (tag,) + alternates)
            for label, digest in record['files'].items()}
    return nets, record


def _find_by_hash(run_dir: str, label: str, digest: str, tags: tuple) -> dict:
    tried = []
    for tag in tags:
        path = net_path(run_dir, tag, label)
        tried.append(path)
        if os.path.isfile(path) and _sha256(path) == digest:
            return read_state_dict(path, f'net_{label}')
    raise CheckpointError(f'snapshot is incomplete or corrupt: no file with the recorded contents of '
                          f'net_{label} among {", ".join(tried)}')


def _rotate_latest(run_dir: str, nets: dict) -> None:
    latest_state = state_path(run_dir, 'latest')
    if not os.path.exists(latest_state):
        return
    os.replace(latest_state, state_path(run_dir, 'previous'))
    for label in nets:
        if os.path.exists(net_path(run_dir, 'latest', label)):
            os.replace(net_path(run_dir, 'latest', label), net_path(run_dir, 'previous', label))


def _serialise(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for block in iter(lambda: handle.read(1 << 22), b''):
            digest.update(block)
    return digest.hexdigest()


def read_spade_iter_file(run_dir: str) -> Optional[tuple[int, int]]:
    """SPADE's ``iter.txt`` (epoch and images done in it; np.savetxt writes one per line),
    for continuing an official SPADE run."""
    path = os.path.join(run_dir, 'iter.txt')
    try:
        with open(path) as handle:
            epoch, iteration = re.split(r'[,\s]+', handle.read().strip())[:2]
        return int(float(epoch)), int(float(iteration))
    except (OSError, ValueError):
        return None
