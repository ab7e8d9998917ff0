"""A study run's lock, ``<run>/study.lock``: which process is training and scoring the run.

Two processes on one run (a study started again while a worker of the first still runs, or two
studies on one folder) would both train it, append the same epochs twice to its results and
prune snapshots the other still needs. The worker takes the lock before it touches the run and
removes it when it ends; the study refuses to start while a live process holds one.

The file names the holder: its PID, the start time of that PID (``/proc/<pid>/stat``: a PID
reused by a later process has another start time) and the host (a PID on another machine that
shares the folder cannot be checked from here, so it counts as live). A lock whose process is
gone (killed with SIGKILL, the machine rebooted) is stale and is taken over with a message.
"""
import fcntl
import json
import os
import socket
import sys
import time
from dataclasses import asdict, dataclass
from typing import Optional

from util.errors import UserError

LOCK_FILE = 'study.lock'


@dataclass(frozen=True)
class Holder:
    pid: int
    start: Optional[int]  # clock ticks after boot; None where /proc cannot tell
    host: str

    def alive(self) -> bool:
        return self.host != socket.gethostname() or is_running(self.pid, self.start)

    def __str__(self) -> str:
        return f'process {self.pid}' + ('' if self.host == socket.gethostname() else f' on {self.host}')


def lock_file(folder: str) -> str:
    return os.path.join(folder, LOCK_FILE)


def this_process() -> Holder:
    return Holder(os.getpid(), _proc_stat(os.getpid())[1], socket.gethostname())


def is_running(pid: int, start: Optional[int] = None) -> bool:
    """Whether ``pid`` is a live process (not a zombie) that started at ``start`` (when given)."""
    if pid < 1:  # 0 and negative numbers name process groups to os.kill
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        pass
    state, started = _proc_stat(pid)
    if state is None:
        return not os.path.isdir('/proc/self')  # gone since os.kill, or no /proc to ask
    return state != 'Z' and (start is None or started == start)


def _proc_stat(pid: int) -> tuple[Optional[str], Optional[int]]:
    """(state, start time) from ``/proc/<pid>/stat``, or (None, None)."""
    try:
        with open(f'/proc/{pid}/stat', 'rb') as f:
            text = f.read()
    except OSError:
        return None, None
    fields = text[text.rindex(b')') + 2:].split()  # after the command name, which may hold spaces
    return fields[0].decode(), int(fields[19])  # proc(5) fields 3 (state) and 22 (starttime)


def read_holder(folder: str) -> Optional[Holder]:
    """The lock's holder; None for no lock. An unreadable lock is stale (its writer died
    between creating and filling it)."""
    raw = _read(lock_file(folder))
    return None if raw is None else _parse(raw)


def check_free(folder: str, name: str) -> None:
    """Refuses when a live process holds the run's lock."""
    holder = read_holder(folder)
    if holder is not None and holder.alive():
        raise _in_use(name, holder, lock_file(folder))


def _in_use(name: str, holder: Holder, path: str) -> UserError:
    return UserError(f'{name} is being trained by {holder} (lock file {path}): another study on this folder is '
                     f'still running; stop it (kill {holder.pid}) or wait for it to finish')


class RunLock:
    """``with RunLock(folder, name):`` holds the run's lock; a live holder is refused with a
    :class:`UserError`, a stale one taken over with a message on stderr."""

    def __init__(self, folder: str, name: str) -> None:
        self.folder, self.name, self.path = folder, name, lock_file(folder)
        self.content = json.dumps(asdict(this_process())).encode()

    def __enter__(self) -> 'RunLock':
        os.makedirs(self.folder, exist_ok=True)
        for _ in range(3):  # a stale lock removed, then created again by a racing process: look again
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                self._take_over_if_stale()
                continue
            try:
                os.write(fd, self.content)  # one small write: a reader sees all of it or none
            finally:
                os.close(fd)
            return self
        raise UserError(f'{self.name}: could not take the lock {self.path}: other processes keep taking it')

    def __exit__(self, *exc) -> None:
        if _read(self.path) == self.content:  # never another process's lock
            os.remove(self.path)

    def _take_over_if_stale(self) -> None:
        raw = _read(self.path)
        if raw is not None and _parse(raw) is None:  # maybe created but not yet written: look again
            time.sleep(0.2)
            raw = _read(self.path)
        if raw is None:  # removed meanwhile
            return
        holder = _parse(raw)
        if holder is not None and holder.alive():
            raise _in_use(self.name, holder, self.path)
        # Under a lock on the folder, remove the lock only if it is still the stale one seen: two
        # processes taking over at once must not remove the lock one of them has just made.
        directory = os.open(self.folder, os.O_RDONLY)
        try:
            fcntl.flock(directory, fcntl.LOCK_EX)
            if _read(self.path) == raw:
                os.remove(self.path)
                print(f'{self.name}: taking over the lock {self.path} of '
                      + (f'{holder}, which is no longer running' if holder else 'a process that died writing it'),
                      file=sys.stderr, flush=True)
        finally:
            os.close(directory)  # releases the flock


def _read(path: str) -> Optional[bytes]:
    try:
        with open(path, 'rb') as f:
            return f.read()
    except FileNotFoundError:
        return None


def _parse(raw: bytes) -> Optional[Holder]:
    try:
        fields = json.loads(raw)
        start = fields['start']
        return Holder(int(fields['pid']), None if start is None else int(start), str(fields['host']))
    except (ValueError, TypeError, KeyError):
        return None
