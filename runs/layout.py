"""Where a run's files live and what they are called.

``<checkpoints_dir>/<name>/`` holds ``opt.json`` / ``opt.txt`` (the options), SPADE's network
files ``<tag>_net_<label>.pth`` (tag: ``latest``, an epoch number, ``previous``; label: ``G``,
``D``, ``E``, ``G_ema``, ``heads``), ``<tag>_train_state.pth`` (optimisers, RNG, position),
``best_net_G.pth`` + ``best_metrics.json`` (``--eval_freq``), ``loss_log.txt``,
``tensorboard/`` (unless ``--tb_dir``), ``onnx_cache/`` (the ONNX copies of its networks that
``--backend onnxruntime`` runs), ``provenance.json`` (the builds that trained it: commit, torch,
instruction sets, threads; :mod:`util.provenance`) and, in a folder written by SPADE, ``iter.txt``.

A folder that already holds checkpoints is only touched with ``--continue_train`` (resume it)
or ``--overwrite_run`` (delete its checkpoints and logs, then start afresh).
"""
import argparse
import os
import re
import shutil

from util.errors import CheckpointError, OptionError
from util.fileio import blocking_file

OPTIONS_JSON, OPTIONS_TEXT = 'opt.json', 'opt.txt'
BEST_GENERATOR, BEST_METRICS = 'best_net_G.pth', 'best_metrics.json'
LOSS_LOG, TENSORBOARD, SPADE_ITER = 'loss_log.txt', 'tensorboard', 'iter.txt'
ONNX_CACHE = 'onnx_cache'
PROVENANCE = 'provenance.json'
LABELS = ('G', 'D', 'E', 'G_ema', 'heads')  # the network files a snapshot may hold
NETWORK_FILE = re.compile(rf'^(?P<tag>.+)_net_(?P<label>{"|".join(LABELS)})\.pth$')
STATE_FILE = re.compile(r'^(?P<tag>.+)_train_state\.pth$')
SHOW = 10  # how many runs or epochs a message lists


def run_dir(opt: argparse.Namespace) -> str:
    return os.path.join(opt.checkpoints_dir, opt.name)


def network_file(folder: str, tag, label: str) -> str:
    return os.path.join(folder, f'{tag}_net_{label}.pth')


def state_file(folder: str, tag) -> str:
    return os.path.join(folder, f'{tag}_train_state.pth')


def onnx_cache_file(opt: argparse.Namespace, tag, label: str) -> str:
    """The ONNX copy of ``<tag>_net_<label>.pth`` that ``--backend onnxruntime`` runs
    (:mod:`inference.backends`)."""
    return os.path.join(run_dir(opt), ONNX_CACHE, f'{tag}_net_{label}.onnx')


def file_in(opt: argparse.Namespace, name: str) -> str:
    """One of the run's named files (``OPTIONS_JSON``, ``LOSS_LOG``, ``BEST_GENERATOR``...)."""
    return os.path.join(run_dir(opt), name)


def tensorboard_dir(opt: argparse.Namespace) -> str:
    return opt.tb_dir or file_in(opt, TENSORBOARD)


def tags_with(folder: str, label: str) -> set:
    """The tags (epochs, ``latest``...) that have a ``net_<label>`` file in ``folder``."""
    if not os.path.isdir(folder):
        return set()
    found = set()
    for name in os.listdir(folder):
        match = NETWORK_FILE.match(name)
        if match and match['label'] == label and os.path.isfile(os.path.join(folder, name)):
            found.add(match['tag'])
    return found


def inference_generator_label(opt: argparse.Namespace, tag) -> str:
    """The generator file for inference: the EMA copy (``<tag>_net_G_ema.pth``) when training
    saved one, unless ``--no_ema``; otherwise ``<tag>_net_G.pth``."""
    if not opt.no_ema and os.path.isfile(network_file(run_dir(opt), tag, 'G_ema')):
        return 'G_ema'
    return 'G'


# ----------------------------------------------------------------------------- safety
def trained_files(folder: str) -> list[str]:
    """What a run wrote that a mistaken fresh start would destroy or mix with its own."""
    if not os.path.isdir(folder):
        return []
    return sorted(name for name in os.listdir(folder)
                  if NETWORK_FILE.match(name) or STATE_FILE.match(name) or name in (BEST_METRICS, SPADE_ITER))


def check_can_train(opt: argparse.Namespace) -> None:
    """Refuse a command that would write into another run or into something not a folder."""
    folder = run_dir(opt)
    blocking = blocking_file(folder)
    if blocking is not None:
        raise OptionError(f'{blocking} is a file, so the run folder {folder} cannot be made; '
                          'choose another --name or --checkpoints_dir')
    found = trained_files(folder)
    if found and not (opt.continue_train or opt.overwrite_run):
        shown = ', '.join(found[:4]) + (', ...' if len(found) > 4 else '')
        raise OptionError(f'{folder} already holds a trained run ({shown}); add --continue_train to resume it, '
                          'choose another --name, or pass --overwrite_run to delete it and start afresh')


def clear(opt: argparse.Namespace) -> None:
    """``--overwrite_run``: delete the run's checkpoints and logs (its options are rewritten)."""
    folder = run_dir(opt)
    logs = [name for name in (LOSS_LOG, TENSORBOARD, ONNX_CACHE) if os.path.lexists(os.path.join(folder, name))]
    for name in trained_files(folder) + logs:
        target = os.path.join(folder, name)
        if os.path.isdir(target) and not os.path.islink(target):
            shutil.rmtree(target)
        else:
            os.remove(target)


# ----------------------------------------------------------------------------- inference
def check_generator_exists(opt: argparse.Namespace) -> None:
    """Fails early when the run folder or the epoch's generator is missing, listing what exists
    (loading would only name the one file it looked for)."""
    folder = run_dir(opt)
    if not os.path.isdir(folder):
        raise CheckpointError(f'{folder}: no such run folder; check --name and --checkpoints_dir'
                              + _listing('runs there', _subfolders(opt.checkpoints_dir)))
    tag = str(opt.which_epoch)
    if os.path.isfile(network_file(folder, tag, inference_generator_label(opt, tag))):
        return
    plain, ema = tags_with(folder, 'G'), tags_with(folder, 'G_ema')
    wanted = network_file(folder, tag, 'G')
    if tag in ema:  # only with --no_ema: without it the EMA copy was chosen above
        raise CheckpointError(f'{wanted} not found: epoch {tag} has only the EMA generator '
                              f'{network_file(folder, tag, "G_ema")}; leave out --no_ema to use it')
    tags = sorted(plain | (set() if opt.no_ema else ema), key=_tag_order)
    if not tags:
        raise CheckpointError(f'{wanted} not found: {folder} holds no generator checkpoint (*_net_G.pth); '
                              'check --name, or train first')
    raise CheckpointError(f'{wanted} not found: no generator for --which_epoch {tag}; '
                          f'choose one of the epochs there: {_shown(tags)}')


def _subfolders(folder: str) -> list[str]:
    if not os.path.isdir(folder):
        return []
    return sorted(name for name in os.listdir(folder) if os.path.isdir(os.path.join(folder, name)))


def _tag_order(tag: str) -> tuple:
    return (0, int(tag), '') if tag.isdigit() else (1, 0, tag)


def _shown(items: list) -> str:
    return ', '.join(items[:SHOW]) + (f' (and {len(items) - SHOW} more)' if len(items) > SHOW else '')


def _listing(what: str, items: list) -> str:
    return f' ({what}: {_shown(items)})' if items else ''
