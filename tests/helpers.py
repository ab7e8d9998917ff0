"""Helpers shared by test modules of several packages (no test module imports another):
the repository root, the one tiny configuration (for train.py and for test.py on its runs),
test.py's main run in this process, snapshot reading, a deadline for code that might never
return, and a spawned worker that exits as train.py does on a signal."""
import contextlib
import functools
import importlib.util
import io
import multiprocessing
import os
import queue
import signal
import sys
import time
import types
import warnings
from pathlib import Path
from typing import Sequence

import pytest
import torch
import torch.nn as nn

from util.entry import run_cli
from util.state_dict import identical as same_weights  # noqa: F401 (the tests' name for it)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEADLINE_S = 30  # for run_with_deadline: what it runs takes milliseconds; a loop would run until memory runs out


# The tiny configuration: networks and a schedule that make a CPU run take seconds. Spelt out here
# only (tests/test_helpers_shared.py checks); a test that needs another value passes the option
# again after these, and the last value given wins.
TINY_G = ('--ngf', '4', '--norm_G', 'spectralspadebatch3x3')  # all that test.py needs to load a tiny generator
TINY_D = ('--ndf', '8', '--num_D', '1', '--n_layers_D', '2')  # training's only: test.py refuses them
TINY_NET = TINY_G + TINY_D
TINY_TRAIN = ('--batchSize', '2', '--synthetic_train_size', '8', '--niter', '1', '--print_freq', '2',
              '--display_freq', '4', '--save_latest_freq', '4', '--vgg_weights', 'random', '--num_patches', '16')


def tiny_test_args(root: str | os.PathLike, name: str, *extra: str, crop: int = 32) -> list[str]:
    """test.py (or evaluate.py model) options that load the tiny run ``name`` trained with tiny_args."""
    return ['--name', name, '--checkpoints_dir', str(root), '--gpu_ids', '-1', '--crop_size', str(crop),
            '--load_size', str(crop), *TINY_G, *extra]


def tiny_args(root: str | os.PathLike, name: str, *extra: str, crop: int = 32) -> list[str]:
    """train.py options for a tiny run on the built-in synthetic dataset."""
    return tiny_test_args(root, name, *TINY_D, *TINY_TRAIN, *extra, crop=crop)


@functools.cache
def load_entry_point() -> types.ModuleType:
    """test.py as a module, loaded once; by path, since 'import test' could find the standard
    library's test package."""
    spec = importlib.util.spec_from_file_location('spade_test_entry', os.path.join(REPO, 'test.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_test_py_cli(args: Sequence[str]) -> tuple[int, str, str]:
    """test.py's main through its real entry wrapper, in this process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            run_cli(lambda: load_entry_point().main(args), 'test.py')
            code = 0
        except SystemExit as stop:
            code = stop.code
    assert 'Traceback' not in err.getvalue()
    return code, out.getvalue(), err.getvalue()


def files_under(folder: Path) -> dict[str, bytes]:
    """{path relative to ``folder``: bytes} of every file below it."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob('*')) if p.is_file()}


def load(root, name, label, tag='latest'):
    return torch.load(os.path.join(root, name, f'{tag}_net_{label}.pth'), weights_only=True)


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


def amplify(net: nn.Module, opt) -> None:
    """Scales the last convolution so that the image before tanh has a spread of about 1: a net
    trained for one iteration draws images of about 1e-3, where a 1e-4 check would tell little."""
    last = [m for m in net.modules() if isinstance(m, nn.Conv2d)][-1]
    seen = []
    handle = last.register_forward_hook(lambda module, args, output: seen.append(output))
    g = torch.Generator().manual_seed(0)
    size = (round(opt.crop_size / opt.aspect_ratio), opt.crop_size)
    label = torch.randint(0, opt.semantic_nc, (2, 1) + size, generator=g)
    semantics = torch.zeros((2, opt.semantic_nc) + size).scatter_(1, label, 1.0)
    with torch.no_grad():
        net.eval()(semantics, z=torch.randn(2, opt.z_dim, generator=g) if opt.use_vae else None)
        handle.remove()
        scale = 1.0 / seen[0].std().item()
        last.weight.mul_(scale)
        if last.bias is not None:
            last.bias.mul_(scale)
