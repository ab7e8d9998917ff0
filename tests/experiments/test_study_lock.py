"""A study run's lock: a live holder refuses, a dead or reused PID is taken over with a message,
and the lock is gone when its holder is done."""
import json
import os
import signal
import socket
import subprocess
import sys

import pytest

from experiments.study_lock import LOCK_FILE, RunLock, check_free, is_running, read_holder, this_process
from util.errors import UserError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HOLD = ('import sys, time; from experiments.study_lock import RunLock\n'
        'with RunLock(sys.argv[1], "vgg_s0"):\n'
        '    print("held", flush=True); time.sleep(60)\n')


@pytest.fixture
def holder(tmp_path):
    """Another live process that holds the lock of ``tmp_path``."""
    process = subprocess.Popen([sys.executable, '-c', HOLD, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE,
                               text=True)
    assert process.stdout.readline() == 'held\n'
    yield process
    process.kill()
    process.wait()


def test_a_live_holder_is_refused_by_name_and_a_dead_one_taken_over(tmp_path, holder, capsys):
    for attempt in (lambda: RunLock(str(tmp_path), 'vgg_s0').__enter__(), lambda: check_free(str(tmp_path), 'vgg_s0')):
        with pytest.raises(UserError, match=rf'vgg_s0 is being trained by process {holder.pid} \(lock file '
                                            rf'.*{LOCK_FILE}\).*kill {holder.pid}'):
            attempt()
    assert read_holder(str(tmp_path)).pid == holder.pid  # the refused one left it alone
    holder.send_signal(signal.SIGKILL)  # dies holding it: the file stays, naming a dead PID
    holder.wait()
    assert not is_running(holder.pid) and read_holder(str(tmp_path)).pid == holder.pid
    with RunLock(str(tmp_path), 'vgg_s0'):
        assert read_holder(str(tmp_path)) == this_process()
    assert f'taking over the lock {tmp_path / LOCK_FILE} of process {holder.pid}, which is no longer running' \
        in capsys.readouterr().err
    assert not os.path.exists(tmp_path / LOCK_FILE)


@pytest.mark.parametrize('content, stale', [
    (lambda: {'pid': os.getpid(), 'start': this_process().start + 1, 'host': socket.gethostname()}, True),
    (lambda: {'pid': 2 ** 22 + 1, 'start': None, 'host': socket.gethostname()}, True),  # above pid_max
    (lambda: {'pid': 0, 'start': None, 'host': socket.gethostname()}, True),  # not a process group
    (lambda: 'cut short', True),
    (lambda: {'pid': os.getppid(), 'start': None, 'host': socket.gethostname()}, False),
    (lambda: {'pid': 1, 'start': 0, 'host': 'another-machine'}, False),  # cannot be checked from here
], ids=['pid-reused', 'dead', 'pid-0', 'unreadable', 'live', 'other-host'])
def test_which_locks_are_stale(tmp_path, content, stale):
    value = content()
    (tmp_path / LOCK_FILE).write_text(json.dumps(value) if isinstance(value, dict) else value)
    if stale:
        with RunLock(str(tmp_path), 'r'):
            assert read_holder(str(tmp_path)) == this_process()
    else:
        with pytest.raises(UserError, match=r'r is being trained by process \d+'):
            RunLock(str(tmp_path), 'r').__enter__()
        assert (tmp_path / LOCK_FILE).exists()
