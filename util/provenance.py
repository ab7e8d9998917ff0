"""What a trained model's numbers depend on besides its options: the code (commit, uncommitted
changes), torch's version, the CPU and the instruction sets its kernels use, the thread count and
the GPU.

Runs at a fixed thread count are deterministic on one kind of machine, but not across machines:
oneDNN and ATen pick their kernels by instruction set (AVX2, AVX-512, native bf16, AMX), and a
different kernel sums in a different order. A result can only be regenerated, or compared with
another, on the same build, so every run keeps a history of the builds that trained it
(:func:`record`). Anything that cannot be found out is ``'unknown'``, never an error: a copy of
the code without git, or a machine without ``/proc/cpuinfo``, still trains.
"""
import datetime
import json
import os
import platform
import subprocess
from typing import Optional

import torch

from util.errors import UserError
from util.fileio import atomic_write_text

UNKNOWN = 'unknown'
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# CPU features that change which kernels run: native bf16 and AMX (bf16 autocast gains only with them)
KERNEL_FLAGS = ('avx512_bf16', 'amx_bf16', 'amx_tile')
ISA_LIMIT = 'ONEDNN_MAX_CPU_ISA'  # oneDNN told to use a lower instruction set, e.g. to imitate another CPU
GIT_SECONDS = 20
# what two results must share to be compared; threads, CPU model and GPU are shown, not compared
BUILD_FIELDS = ('commit', 'dirty', 'torch', 'cpu_capability', 'cpu_flags', ISA_LIMIT)
RECORDED = 'recorded'


def collect(repo: str = ROOT) -> dict:
    """This process's build: the commit of ``repo`` and everything else listed above."""
    commit = _git(repo, 'rev-parse', 'HEAD')
    # --no-optional-locks: never touch the index of a tree someone else is working in
    changes = _git(repo, '--no-optional-locks', 'status', '--porcelain') if commit else None
    return {
        'commit': commit.strip() if commit else UNKNOWN,
        'dirty': UNKNOWN if changes is None else bool(changes.strip()),
        'torch': torch.__version__,
        'cpu': cpu_model(),
        'cpu_capability': _cpu_capability(),
        'cpu_flags': _kernel_flags(),
        ISA_LIMIT: os.environ.get(ISA_LIMIT),
        'threads': torch.get_num_threads(),
        'gpu': torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def _git(repo: str, *args: str) -> Optional[str]:
    """git's output, or None when git, the repository or its answer is missing."""
    try:
        done = subprocess.run(['git', '-C', repo, *args], capture_output=True, text=True, timeout=GIT_SECONDS)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def _cpuinfo(field: str) -> Optional[str]:
    """The first value of ``field`` in /proc/cpuinfo (Linux), or None."""
    try:
        with open('/proc/cpuinfo', encoding='utf-8', errors='replace') as f:
            for line in f:
                name, sep, value = line.partition(':')
                if sep and name.strip() == field:
                    return value.strip()
    except OSError:
        pass
    return None


def cpu_model() -> str:
    return _cpuinfo('model name') or platform.processor() or platform.machine() or UNKNOWN


def _cpu_capability() -> str:
    try:
        return torch.backends.cpu.get_cpu_capability()
    except (AttributeError, RuntimeError):  # torch older than 2.0
        return UNKNOWN


def _kernel_flags():
    flags = _cpuinfo('flags')
    if flags is None:
        return UNKNOWN
    present = set(flags.split())
    return [flag for flag in KERNEL_FLAGS if flag in present]


# ----------------------------------------------------------------------------- the run's history
def read(path: str) -> list[dict]:
    """The builds recorded in ``path``, oldest first; [] when there is no file."""
    try:
        with open(path, encoding='utf-8') as f:
            history = json.load(f)
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise UserError(f'{path}: cannot read the recorded builds ({exc}); the file is written whole, so it '
                        'was changed by hand: restore it or delete it (the run then counts as not recorded)') from None
    if not isinstance(history, list) or not all(isinstance(entry, dict) for entry in history):
        raise UserError(f'{path}: expected a list of recorded builds; restore it or delete it')
    return history


def record(path: str, repo: str = ROOT, afresh: bool = False) -> dict:
    """Adds this process's build to the history in ``path`` unless it is the last one there
    (a run resumed on the same build adds nothing); returns it. ``afresh``: the history starts
    again (a run trained from scratch keeps nothing of an earlier build)."""
    history = [] if afresh else read(path)
    entry = collect(repo)
    if not history or _without_time(history[-1]) != entry:
        history.append({**entry, RECORDED: datetime.datetime.now().isoformat(timespec='seconds')})
        atomic_write_text(path, json.dumps(history, indent=1) + '\n')
    return entry


def _without_time(entry: dict) -> dict:
    return {k: v for k, v in entry.items() if k != RECORDED}


def build(entry: dict) -> tuple:
    """What must be equal for two results to be compared (code, torch, instruction sets)."""
    return tuple(json.dumps(entry.get(name), sort_keys=True) for name in BUILD_FIELDS)


# ----------------------------------------------------------------------------- one-line labels
def commit_label(entry: dict) -> str:
    """The short commit, ``+`` when the tree had uncommitted changes (``?``: not known)."""
    commit = entry.get('commit', UNKNOWN)
    if commit == UNKNOWN:
        return UNKNOWN
    mark = {True: '+', False: ''}.get(entry.get('dirty'), '?')
    return commit[:7] + mark


def isa_label(entry: dict) -> str:
    """e.g. ``AVX512 +avx512_bf16 +amx_bf16`` or ``AVX512, oneDNN limited to AVX2``."""
    flags = entry.get('cpu_flags')
    text = str(entry.get('cpu_capability', UNKNOWN))
    text += ''.join(f' +{flag}' for flag in flags) if isinstance(flags, list) else f' (CPU flags {UNKNOWN})'
    if entry.get(ISA_LIMIT):
        text += f', oneDNN limited to {entry[ISA_LIMIT]}'
    return text
