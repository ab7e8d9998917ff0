"""On-disk cache of the real images' FID statistics, so repeated evaluations only embed fakes.

An entry is keyed by a hash of everything that changes the statistics: dataset, split, image
size, how the reals were prepared, the Inception weights and feature dimensions, and the file
list with each file's size and modification time (editing, adding or removing a file misses).
"""
import hashlib
import io
import json
import os
import re
import warnings
import zipfile
from typing import Callable, Optional, Sequence, Union

import numpy as np

from evaluation.fid import FIDStats, InceptionFeatures
from evaluation.images import printable
from util.errors import UserError
from util.fileio import atomic_write_bytes

Size = Union[int, tuple[int, int], str]


def file_fingerprints(files: Sequence[str]) -> list[list]:
    """[path, size, mtime_ns] of each file, in the given order."""
    out = []
    for path in files:
        stat = os.stat(path)
        out.append([os.path.realpath(path), stat.st_size, stat.st_mtime_ns])
    return out


def cache_key(*, dataset: str, split: str, size: Size, files: Sequence[str], features: InceptionFeatures,
              preprocess: str) -> str:
    payload = {
        'dataset': dataset, 'split': split, 'size': list(size) if isinstance(size, tuple) else size,
        'preprocess': preprocess, 'weights': features.weights_id, 'dims': features.dims,
        'files': file_fingerprints(files),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def cache_path(cache_dir: str, dataset: str, split: str, size: Size, key: str) -> str:
    size_text = 'x'.join(map(str, size)) if isinstance(size, tuple) else str(size)
    readable = re.sub(r'[^A-Za-z0-9_.-]+', '-', f'{dataset}_{split}_{size_text}')
    return os.path.join(cache_dir, f'{readable}_{key[:16]}.npz')


def load_stats(path: str) -> Optional[FIDStats]:
    """The cached statistics, or None when absent or unreadable (then they are recomputed)."""
    try:
        with np.load(path) as data:
            return FIDStats(data['mu'], data['sigma'], int(data['count']))
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
        return None


def check_cache_dir(cache_dir: Optional[str]) -> None:
    """Refuses a ``--fid_cache_dir`` that is a file (before any image is embedded)."""
    if cache_dir and os.path.exists(cache_dir) and not os.path.isdir(cache_dir):
        raise UserError(f"--fid_cache_dir '{printable(cache_dir)}' is a file: give a folder, or '' to turn the "
                        f"cache off")


def save_stats(path: str, stats: FIDStats) -> None:
    """Stores ``stats``; failing to (full disk, permissions) only costs the next run the time
    to recompute them, so it is a warning rather than an error."""
    buffer = io.BytesIO()
    np.savez(buffer, mu=stats.mu, sigma=stats.sigma, count=np.int64(stats.count))
    try:
        atomic_write_bytes(path, buffer.getvalue())
    except OSError as exc:
        warnings.warn(f"the real images' FID statistics were not cached in '{printable(path)}' "
                      f"({exc.strerror or exc}); check --fid_cache_dir")


def cached_stats(cache_dir: Optional[str], *, compute: Callable[[], FIDStats], **key_parts) -> tuple[FIDStats, bool]:
    """(statistics, whether they came from the cache); ``compute`` runs on a miss and its result
    is stored. ``key_parts`` are :func:`cache_key`'s arguments (dataset, split, size, files,
    features, preprocess). An empty or None ``cache_dir`` disables the cache."""
    stats, path = lookup(cache_dir, **key_parts)
    if stats is not None:
        return stats, True
    stats = compute()
    if path:
        save_stats(path, stats)
    return stats, False


def lookup(cache_dir: Optional[str], **key_parts) -> tuple[Optional[FIDStats], Optional[str]]:
    """(cached statistics or None, the entry's path or None when caching is off); for callers
    that compute the statistics as a side effect of another pass and store them afterwards
    with :func:`save_stats`. ``key_parts`` are :func:`cache_key`'s arguments."""
    if not cache_dir:
        return None, None
    key = cache_key(**key_parts)
    path = cache_path(cache_dir, key_parts['dataset'], key_parts['split'], key_parts['size'], key)
    return load_stats(path), path
