"""Atomic file writes: a crash never leaves a half-written file under the final name."""
import hashlib
import io
import os
import stat
import tempfile
from contextlib import contextmanager
from typing import IO, Iterator, Optional


@contextmanager
def atomic_open(path: str, mode: str = 'wb', durable: bool = True) -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success (fsync it, with ``durable``) rename it
    over ``path``. On an exception the temporary file is removed and ``path`` keeps its old
    content. ``durable=False`` suits files that can be regenerated, where a sync each is slow.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix='.' + os.path.basename(path) + '.', suffix='.tmp')
    try:
        os.fchmod(fd, _permissions(path))  # mkstemp's are owner-only; keep what open() would give
        # text as UTF-8 whatever the locale; file names that are not UTF-8 (surrogate-escaped
        # by Python) are written back as the bytes they were
        text = {} if 'b' in mode else {'encoding': 'utf-8', 'errors': 'surrogateescape'}
        with os.fdopen(fd, mode, **text) as handle:
            yield handle
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    if durable:
        _fsync_dir(directory)


def atomic_write_text(path: str, text: str) -> None:
    with atomic_open(path, 'w') as handle:
        handle.write(text)


def atomic_write_bytes(path: str, payload: bytes) -> None:
    with atomic_open(path, 'wb') as handle:
        handle.write(payload)


def atomic_torch_save(obj, path: str) -> None:
    """``torch.save`` through a temporary file and a rename."""
    atomic_write_bytes(path, torch_bytes(obj))


def torch_bytes(obj) -> bytes:
    """What ``torch.save`` would write, in memory (to hash it before writing)."""
    import torch  # this module is also used where torch is not needed
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _permissions(path: str) -> int:
    """The replaced file's permissions, or those of a new file under the current umask."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _fsync_dir(directory: str) -> None:
    # makes the rename itself durable; not possible on every OS/filesystem
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def sha256_bytes(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def sha256_file(path: str) -> str:
    """The hex SHA-256 of a file, read in blocks (checkpoints can be large)."""
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for block in iter(lambda: handle.read(1 << 22), b''):
            digest.update(block)
    return digest.hexdigest()


def nearest_existing(path: str) -> str:
    """``path`` itself if anything is there (a dangling link counts), else its nearest existing
    ancestor: where the folders to create for ``path`` would start."""
    path = os.path.abspath(path)
    while not os.path.lexists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    return path


def blocking_file(folder: str) -> Optional[str]:
    """The path that keeps ``folder`` from being a folder or being created (a file, or a link
    to nothing, at or above it), else None."""
    nearest = nearest_existing(folder)
    return None if os.path.isdir(nearest) else nearest
