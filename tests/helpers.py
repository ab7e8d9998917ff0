"""Helpers shared by test modules of several packages (no test module imports another):
the repository root, the one tiny training configuration, snapshot reading, a deadline for
code that might never return, and a spawned worker that exits as train.py does on a signal."""
import multiprocessing
import os
import queue
import signal
import sys
import time
import warnings

import pytest
import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEADLINE_S = 30  # for run_with_deadline: what it runs takes milliseconds; a loop would run until memory runs out


def tiny_args(root, name, *extra, crop=32):
    return ['--name', name, '--checkpoints_dir', str(root), '--gpu_ids', '-1', '--crop_size', str(crop),
            '--load_size', str(crop), '--ngf', '4', '--ndf', '8', '--num_D', '1', '--n_layers_D', '2',
            '--batchSize', '2', '--synthetic_train_size', '8', '--niter', '1', '--print_freq', '2',
            '--display_freq', '4', '--save_latest_freq', '4', '--vgg_weights', 'random', '--num_patches', '16',
            '--norm_G', 'spectralspadebatch3x3'] + list(extra)


def load(root, name, label, tag='latest'):
    return torch.load(os.path.join(root, name, f'{tag}_net_{label}.pth'), weights_only=True)


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def run_with_deadline(function, *args):
    """``(result, warning messages)`` of ``function(*args)`` run in a forked process that is killed
    after DEADLINE_S, so that a listing that never ends fails the test instead of hanging it."""
    context = multiprocessing.get_context('fork')
    results = context.Queue()
    process = context.Process(target=_report, args=(results, function, args), daemon=True)
    process.start()
    try:
        outcome, messages = results.get(timeout=DEADLINE_S)
    except queue.Empty:
        pytest.fail(f'no result after {DEADLINE_S} s: the listing does not end')
    finally:
        process.kill()
        process.join()
    if isinstance(outcome, Exception):
        raise outcome
    return outcome, messages


def _report(results, function, args) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        try:
            outcome = function(*args)
        except Exception as exc:  # sent back, to fail the test with its own message
            outcome = exc
    results.put((outcome, [str(w.message) for w in caught]))


class WaitForSignal:
    """A spawned worker that exits as train.py does when signalled: 128 + the signal."""

    def __call__(self):
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
        open(os.path.join(os.environ['READY_DIR'], os.environ['RANK']), 'w').close()
        time.sleep(120)
        sys.exit(0)
