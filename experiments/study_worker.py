"""One study run in its own process: ``python -m experiments.study_worker OUT NAME``.

Trains the run (resuming a killed one from its ``latest`` snapshot, leaving a finished one alone),
then scores its epoch snapshots. The run's state is kept in ``<run>/study_status.json``:
``trained`` / ``failed`` (with the error) and the seconds spent training and scoring, summed over
the sessions of a resumed study. The torch thread count comes from the environment
(``OMP_NUM_THREADS``), set by the study so that jobs x threads fits the cores. Each session
adds its build to ``<run>/provenance.json`` when it differs from the last one recorded
(:mod:`util.provenance`): the report refuses to compare runs of different builds.

The worker holds the run's lock (:mod:`experiments.study_lock`) while it works, and ends with
the study however the study ends: on SIGTERM (which the study forwards) it saves ``latest``
when training and stops, and it sends itself SIGTERM when its parent is gone (a study killed
with SIGKILL, or whose terminal closed, cannot forward anything).
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time

from experiments.study_eval import evaluate_run, prune, run_folder
from experiments.study_lock import RunLock
from experiments.study_plan import Run, load_plan, option_value
from options.train_options import TrainOptions
from runs import layout
from util import provenance
from util.errors import UserError, user_message
from util.fileio import atomic_write_text

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # workers start from the project root
STATUS_FILE = 'study_status.json'
TRAINED, FAILED, STOPPED = 'trained', 'failed', 'stopped'
PARENT_CHECK_SECONDS = 1.0


def command(out: str, name: str, *extra: str) -> list[str]:
    """How the study, ``rerun.py`` and ``extend.py`` start the worker of one run (from the project root)."""
    return [sys.executable, '-m', 'experiments.study_worker', out, name, *extra]


def environment(threads: int) -> dict[str, str]:
    """The worker's environment: its torch thread count, so that jobs x threads fits the cores."""
    return dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))


def run_in_foreground(out: str, name: str, threads: int) -> int:
    """Trains and scores one run of the study in ``out`` in a worker whose output is this process's
    (``rerun.py``, ``extend.py``), scoring where the run trains; returns the worker's exit status."""
    gpu = option_value(load_plan(out).common, '--gpu_ids', '-1')
    return subprocess.run(command(out, name, '--gpu_ids', gpu), cwd=ROOT, env=environment(threads)).returncode


def read_status(folder: str) -> dict:
    try:
        with open(os.path.join(folder, STATUS_FILE), encoding='utf-8') as f:
            return json.load(f)
    except (FileNotFoundError, ValueError):
        return {}


def write_status(folder: str, status: dict) -> None:
    os.makedirs(folder, exist_ok=True)
    atomic_write_text(os.path.join(folder, STATUS_FILE), json.dumps(status, indent=1) + '\n')


def resume_args(folder: str) -> list[str]:
    """How train.py should treat the run folder left by an earlier session."""
    if os.path.isfile(layout.state_file(folder, 'latest')):
        return ['--continue_train']
    if layout.trained_files(folder):  # killed before its first snapshot: nothing to resume
        return ['--overwrite_run']
    return []


def train_run(run: Run, folder: str, status: dict) -> int:
    from trainers.loop import train  # imported here: the study process itself never trains
    options = TrainOptions()
    opt = options.parse(list(run.train_args) + resume_args(folder), verbose=False)
    start = time.time()
    try:
        code = train(opt, options.option_files())
    finally:
        status['train_seconds'] = round(status.get('train_seconds', 0.0) + time.time() - start, 1)
    return code


def _train(run: Run, folder: str, status: dict) -> int:
    """Trains and records the outcome; a failure (e.g. a diverged run) is recorded, shown in
    the report and not retried, and its snapshots from before the failure are still scored."""
    try:
        code = train_run(run, folder, status)
    except UserError as exc:
        status.update(state=FAILED, error=user_message(exc))
        print(f'{run.name}: failed: {user_message(exc)}', file=sys.stderr)
        code = 0
    else:
        status['state'] = TRAINED if code == 0 else STOPPED
    write_status(folder, status)
    return code


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog='python -m experiments.study_worker')
    parser.add_argument('out')
    parser.add_argument('name')
    parser.add_argument('--gpu_ids', default='-1', help="the GPU that scores the snapshots ('-1': CPU)")
    parser.add_argument('--parent', type=int, default=None,
                        help='the study process: the worker stops when it is gone [default: the parent at start]')
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_signal)  # training replaces it with its own: save latest, then stop
    stop_with_parent(os.getppid() if args.parent is None else args.parent)
    run = load_plan(args.out).run(args.name)
    folder = run_folder(args.out, run)
    with RunLock(folder, run.name):
        return work(args.out, run, folder, args.gpu_ids)


def work(out: str, run: Run, folder: str, gpu_ids: str) -> int:
    status = read_status(folder)
    training = status.get('state') not in (TRAINED, FAILED)
    if not training:  # train.py records the build that trains; a session that only scores records its own
        provenance.record(os.path.join(folder, layout.PROVENANCE))
    if training:
        code = _train(run, folder, status)
        if code != 0:  # stopped by a signal; latest was saved and the next session resumes it
            return code
    start = time.time()
    evaluate_run(out, run, gpu_ids)
    status['eval_seconds'] = round(status.get('eval_seconds', 0.0) + time.time() - start, 1)
    status['pruned_bytes'] = status.get('pruned_bytes', 0) + prune(folder)
    write_status(folder, status)
    return 0


def _exit_on_signal(signum, frame) -> None:
    raise SystemExit(128 + signum)  # unwinds through the lock's removal; a scored epoch is already on disk


def stop_with_parent(parent: int) -> None:
    """Sends this process SIGTERM once ``parent`` is no longer its parent: the parent died and
    the worker was adopted. The study runs its workers in their own session (a Ctrl-C reaches
    the study only, which forwards it), so nothing else would tell them."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        print(f'the study (process {parent}) is gone: stopping', file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name='parent-watch', daemon=True).start()


if __name__ == '__main__':
    try:
        sys.exit(main(sys.argv[1:]))
    except UserError as exc:
        print(f'study_worker: error: {user_message(exc)}', file=sys.stderr)
        sys.exit(2)
