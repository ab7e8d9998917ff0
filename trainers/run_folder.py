"""A training run's folder, ``<checkpoints_dir>/<name>``: never train over a run by mistake.

A folder that already holds checkpoints is only touched with ``--continue_train`` (resume it)
or ``--overwrite_run`` (delete its checkpoints and logs, then start afresh); any other
command is refused before anything is written.
"""
import argparse
import os
import re
import shutil

from util.errors import OptionError

# what a run writes that a mistaken fresh start would destroy or mix with its own
TRAINED = re.compile(r'^(.+_net_[A-Za-z_]+\.pth|.+_train_state\.pth|best_metrics\.json|iter\.txt)$')
LOGS = ('loss_log.txt', 'tensorboard')


def path(opt: argparse.Namespace) -> str:
    return os.path.join(opt.checkpoints_dir, opt.name)


def trained_files(run_dir: str) -> list[str]:
    if not os.path.isdir(run_dir):
        return []
    return sorted(name for name in os.listdir(run_dir) if TRAINED.match(name))


def check(opt: argparse.Namespace) -> None:
    """Refuse a command that would write into another run or into something not a folder."""
    run_dir = path(opt)
    blocking = _first_non_folder(run_dir)
    if blocking is not None:
        raise OptionError(f'{blocking} is a file, so the run folder {run_dir} cannot be made; '
                          'choose another --name or --checkpoints_dir')
    found = trained_files(run_dir)
    if found and not (opt.continue_train or opt.overwrite_run):
        shown = ', '.join(found[:4]) + (', ...' if len(found) > 4 else '')
        raise OptionError(f'{run_dir} already holds a trained run ({shown}); add --continue_train to resume it, '
                          'choose another --name, or pass --overwrite_run to delete it and start afresh')


def clear(opt: argparse.Namespace) -> None:
    """``--overwrite_run``: delete the run's checkpoints and logs (its options are rewritten)."""
    run_dir = path(opt)
    for name in trained_files(run_dir) + [n for n in LOGS if os.path.lexists(os.path.join(run_dir, n))]:
        target = os.path.join(run_dir, name)
        if os.path.isdir(target) and not os.path.islink(target):
            shutil.rmtree(target)
        else:
            os.remove(target)


def _first_non_folder(run_dir: str):
    """The first existing path on the way to ``run_dir`` that is not a folder, if any."""
    current = os.path.abspath(run_dir)
    while True:
        if os.path.exists(current) and not os.path.isdir(current):
            return current
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent
