"""Training snapshots: the SPADE-style network files plus one training-state file; the best
generator of ``--eval_freq``; SPADE's ``iter.txt``.

A snapshot with tag T (``latest`` or an epoch number) is ``T_net_G.pth`` (and D, E, G_ema,
heads: plain state dicts, so SPADE tools read them) and ``T_train_state.pth``, written last,
which records the SHA-256 of every network file. A snapshot is valid only if all its files
exist with those hashes, so a crash or a corrupt file is detected, never half-loaded.

Saving ``latest`` first renames the current latest files to ``previous_*``; loading ``latest``
falls back to that previous snapshot (with a warning) when the latest is incomplete or corrupt.
A network file is looked up under both names by its hash, so a crash in the middle of the
renaming loses nothing.

Pruning (:func:`delete_snapshot`, :func:`prune_to_inference`) frees the space of snapshots that
are no longer trained on; which ones is the caller's policy (the loss study prunes scored epochs).
"""
import json
import os
import re
import warnings
from typing import Iterable, Optional


from runs.layout import BEST_GENERATOR, BEST_METRICS, LABELS, SPADE_ITER, network_file, state_file
from util.errors import CheckpointError
from util.fileio import (atomic_torch_save, atomic_write_bytes, atomic_write_text, sha256_bytes, sha256_file,
                         torch_bytes)
from util.state_dict import read_state_dict

STATE_FORMAT = 1


def save_snapshot(run_dir: str, tag, nets: dict, train_state: dict) -> None:
    """``nets`` maps a label (G, D, E, G_ema, heads) to a CPU state dict."""
    if str(tag) == 'latest':
        _rotate_latest(run_dir, nets)
    hashes = {}
    for label, state in nets.items():
        payload = torch_bytes(state)
        atomic_write_bytes(network_file(run_dir, tag, label), payload)
        hashes[label] = sha256_bytes(payload)
    record = dict(train_state, format=STATE_FORMAT, files=hashes)
    atomic_write_bytes(state_file(run_dir, tag), torch_bytes(record))


def load_snapshot(run_dir: str, tag) -> tuple[dict, dict]:
    """Returns (network state dicts by label, training state) of a valid snapshot."""
    try:
        return _load_valid(run_dir, tag, alternates=('previous',) if str(tag) == 'latest' else ())
    except CheckpointError as latest_problem:
        if str(tag) != 'latest' or not os.path.exists(state_file(run_dir, 'previous')):
            raise
        warnings.warn(f'{latest_problem}; falling back to the previous snapshot')
        return _load_valid(run_dir, 'previous', alternates=('latest',))


def has_train_state(run_dir: str, tag) -> bool:
    return any(os.path.exists(state_file(run_dir, t)) for t in ([tag, 'previous'] if str(tag) == 'latest' else [tag]))


def _load_valid(run_dir: str, tag, alternates: tuple) -> tuple[dict, dict]:
    record = read_state_dict(state_file(run_dir, tag), 'training state')
    if record.get('format') != STATE_FORMAT or 'files' not in record:
        raise CheckpointError(f'{state_file(run_dir, tag)} is not a training state written by this program')
    nets = {label: _find_by_hash(run_dir, label, digest, (tag,) + alternates)
            for label, digest in record['files'].items()}
    return nets, record


def _find_by_hash(run_dir: str, label: str, digest: str, tags: tuple) -> dict:
    tried = []
    for tag in tags:
        path = network_file(run_dir, tag, label)
        tried.append(path)
        if os.path.isfile(path) and sha256_file(path) == digest:
            return read_state_dict(path, f'net_{label}')
    raise CheckpointError(f'snapshot is incomplete or corrupt: no file with the recorded contents of '
                          f'net_{label} among {", ".join(tried)}')


def _rotate_latest(run_dir: str, nets: dict) -> None:
    latest_state = state_file(run_dir, 'latest')
    if not os.path.exists(latest_state):
        return
    os.replace(latest_state, state_file(run_dir, 'previous'))
    for label in nets:
        if os.path.exists(network_file(run_dir, 'latest', label)):
            os.replace(network_file(run_dir, 'latest', label), network_file(run_dir, 'previous', label))


def delete_snapshot(run_dir: str, tag) -> int:
    """Deletes every file of the snapshot ``tag``; returns the bytes freed."""
    return _remove([network_file(run_dir, tag, label) for label in LABELS] + [state_file(run_dir, tag)])


def prune_to_inference(run_dir: str, tags: Iterable) -> int:
    """Deletes from the snapshots ``tags`` what inference does not need: the discriminator, the
    contrastive heads, the training state, and the raw generator where an EMA copy exists
    (inference runs that copy unless ``--no_ema``). The image encoder stays (``--use_vae``).
    The snapshots can be evaluated again but no longer resumed. Returns the bytes freed."""
    doomed = []
    for tag in tags:
        doomed += [network_file(run_dir, tag, 'D'), network_file(run_dir, tag, 'heads'), state_file(run_dir, tag)]
        if os.path.isfile(network_file(run_dir, tag, 'G_ema')):
            doomed.append(network_file(run_dir, tag, 'G'))
    return _remove(doomed)


def _remove(paths: list[str]) -> int:
    freed = 0
    for path in paths:
        if os.path.isfile(path):
            freed += os.path.getsize(path)
            os.remove(path)
    return freed


def read_spade_iter_file(run_dir: str) -> Optional[tuple[int, int]]:
    """SPADE's ``iter.txt`` (epoch and images done in it; np.savetxt writes one per line),
    for continuing an official SPADE run."""
    path = os.path.join(run_dir, SPADE_ITER)
    try:
        with open(path) as handle:
            epoch, iteration = re.split(r'[,\s]+', handle.read().strip())[:2]
        return int(float(epoch)), int(float(iteration))
    except (OSError, ValueError):
        return None


def save_best(run_dir: str, generator_state: dict, metrics: dict) -> None:
    """``best_net_G.pth`` (a CPU state dict) and the metrics that made it the best."""
    atomic_torch_save(generator_state, os.path.join(run_dir, BEST_GENERATOR))
    atomic_write_text(os.path.join(run_dir, BEST_METRICS), json.dumps(metrics, indent=2) + '\n')
