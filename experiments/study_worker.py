"""One study run in its own process: ``python -m experiments.study_worker OUT NAME``.

Trains the run (resuming a killed one from its ``latest`` snapshot, leaving a finished one alone),
then scores its epoch snapshots. The run's state is kept in ``<run>/study_status.json``:
``trained`` / ``failed`` (with the error) and the seconds spent training and scoring, summed over
the sessions of a resumed study. The torch thread count comes from the environment
(``OMP_NUM_THREADS``), set by the study so that jobs x threads fits the cores.
"""
import argparse
import json
import os
import sys
import time

from experiments.study_eval import evaluate_run, prune, run_folder
from experiments.study_plan import Run, load_plan
from options.train_options import TrainOptions
from runs import layout
from util.errors import UserError, user_message
from util.fileio import atomic_write_text

STATUS_FILE = 'study_status.json'
TRAINED, FAILED, STOPPED = 'trained', 'failed', 'stopped'


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
    args = parser.parse_args(argv)
    run = load_plan(args.out).run(args.name)
    folder = run_folder(args.out, run)
    status = read_status(folder)
    if status.get('state') not in (TRAINED, FAILED):
        code = _train(run, folder, status)
        if code != 0:  # stopped by a signal; latest was saved and the next session resumes it
            return code
    start = time.time()
    evaluate_run(args.out, run, args.gpu_ids)
    status['eval_seconds'] = round(status.get('eval_seconds', 0.0) + time.time() - start, 1)
    status['pruned_bytes'] = status.get('pruned_bytes', 0) + prune(folder)
    write_status(folder, status)
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main(sys.argv[1:]))
    except UserError as exc:
        print(f'study_worker: error: {user_message(exc)}', file=sys.stderr)
        sys.exit(2)
