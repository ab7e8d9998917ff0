"""What a loss study trains: configurations x seeds, each a train.py command line, fixed in
``<out>/plan.json`` when the study starts so that a resumed study trains exactly the same runs.

A configuration is a name and the train.py options that set its loss; every run shares the
study's common options (data, schedule, network sizes) and differs only in those and ``--seed``.
"""
import json
import os
import shlex
from dataclasses import asdict, dataclass, field
from typing import Sequence

from util.errors import OptionError
from util.fileio import atomic_write_text

# The four losses of the paper with the settings of the authors' paired scripts: SPADE's VGG-L1
# at SPADE's weight 10, the contrastive losses at the released scripts' weight 50.
CONFIGS: dict[str, str] = {
    'vgg': '--perceptual_loss vgg --lambda_vgg 10',
    'patchnce': '--perceptual_loss patchnce --lambda_vgg 50',
    'weightnce': '--perceptual_loss weightnce --lambda_vgg 50',
    'monce': '--perceptual_loss monce --lambda_vgg 50',
    'monce_official': '--perceptual_loss monce --monce_preset official --lambda_vgg 50',
}
DEFAULT_CONFIGS = ('vgg', 'patchnce', 'weightnce', 'monce')  # the paper's four; monce_official on request
BASELINE = 'patchnce'  # differences are reported against it, as the paper's ablation does
SEEDS = (0, 1, 2)

# The regime where textures start within the budget (docs/results.md, "Finding the regime"): 4
# configurations x 3 seeds of 2,880 images each trained in 88 minutes on 2 CPU cores (2 runs at a
# time, one thread each). Batch 2, not 4: the generator learns textures per step more than per
# image (a monce probe: texture error 0.84 against 1.00 after 2,400 images, in about the same wall
# time). SPADE's own options, narrower than its defaults: the 64-wide SPADE hidden layer and one
# 16-wide discriminator scale cut a step by a third. The epochs are the evaluation points. All 6 run at
# --lr: SPADE lowers the rate at the end of each decay epoch, so its one decay epoch is at full rate.
COMMON = ('--dataset_mode synthetic --crop_size 64 --load_size 64 --synthetic_train_size 480 '
          '--synthetic_test_size 64 --batchSize 2 --niter 5 --niter_decay 1 --lr 0.0004 '
          '--ngf 16 --spade_hidden 64 --ndf 16 --num_D 1 --norm_G spectralspadebatch3x3 --ema --ema_decay 0.99 '
          '--save_epoch_freq 1 --save_latest_freq 480 --print_freq 240 --display_freq 480')
# --gpu: the study at 128 px on one CUDA GPU, runs one after another (meant to finish in about 8
# minutes on an H100/H200; not measured yet); the CPU options above with these after them
GPU = ('--crop_size 128 --load_size 128 --gpu_ids 0 --batchSize 16 --synthetic_train_size 960 '
       '--save_latest_freq 1920 --print_freq 960 --display_freq 1920')
# --quick: seconds, for the test suite: the same code path on a toy scale
QUICK = ('--dataset_mode synthetic --crop_size 32 --load_size 32 --synthetic_train_size 2 '
         '--synthetic_test_size 4 --batchSize 2 --niter 3 --niter_decay 2 --lr 0.0004 '
         '--ngf 8 --ndf 8 --num_D 1 --n_layers_D 2 --norm_G spectralspadebatch3x3 --ema --ema_decay 0.9 '
         '--num_patches 16 --save_epoch_freq 1 --save_latest_freq 1000 --print_freq 1000 --display_freq 1000')
QUICK_SEEDS = (0, 1)
# train.py options the study sets for every run, with what to use instead: given as well, they
# would be overridden without a word (or, for the last two, fight the study's own resuming)
MANAGED = {'--name': 'runs are named CONFIG_sSEED', '--seed': 'use --seeds',
           '--checkpoints_dir': 'the runs go in OUT/runs: choose OUT with --out',
           '--tb_dir': 'the TensorBoard logs go in OUT/tensorboard: choose OUT with --out',
           '--continue_train': 'a study started again continues its runs by itself',
           '--overwrite_run': 'start afresh with another --out'}


@dataclass(frozen=True)
class Run:
    name: str
    config: str
    seed: int
    train_args: tuple[str, ...]


@dataclass
class Plan:
    configs: dict[str, str]
    seeds: tuple[int, ...]
    common: tuple[str, ...]
    runs: list[Run] = field(default_factory=list)

    def run(self, name: str, where: str = 'the study') -> Run:
        """The run called ``name``; a one-line error naming ``where`` (the study folder) and its runs."""
        for run in self.runs:
            if run.name == name:
                return run
        raise OptionError(f'{where} has no run {name!r}: it has {", ".join(r.name for r in self.runs)}')


def parse_config(text: str) -> tuple[str, str]:
    """``NAME=OPTIONS`` (``--config`` on the command line) -> (name, options)."""
    name, sep, options = text.partition('=')
    name = name.strip()
    if not sep or not name or not name.replace('_', '').replace('-', '').isalnum():
        raise OptionError(f"--config takes NAME='train.py options' with a plain name, got {text!r}")
    try:
        shlex.split(options)  # unbalanced quotes are an error here, not in a worker
    except ValueError as exc:
        raise OptionError(f'--config {name}: {exc} in {options!r}') from None
    return name, options.strip()


def make_plan(configs: dict[str, str], seeds: tuple[int, ...], common: tuple[str, ...], out: str) -> Plan:
    """Seed-major order, so that an interrupted study has whole seeds to compare first."""
    if not configs:
        raise OptionError('the study needs at least one configuration')
    if len(set(seeds)) != len(seeds) or not seeds:
        raise OptionError(f'--seeds must be distinct and not empty, got {list(seeds)}')
    _check_not_managed(common, '')
    for config, options in configs.items():
        _check_not_managed(shlex.split(options), f' in configuration {config!r}')
    plan = Plan(dict(configs), tuple(seeds), tuple(common))
    for seed in seeds:
        for config, options in configs.items():
            name = f'{config}_s{seed}'
            args = (*common, *shlex.split(options), '--seed', str(seed), '--name', name,
                    '--checkpoints_dir', runs_dir(out), '--tb_dir', os.path.join(tensorboard_dir(out), name))
            plan.runs.append(Run(name, config, seed, args))
    return plan


def option_value(args: tuple[str, ...], name: str, default: str) -> str:
    """The value of ``--name`` in an option list (the last one wins, as in argparse)."""
    value = default
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith(name + '='):
            value = arg.split('=', 1)[1]
    return value


def _check_not_managed(args: Sequence[str], where: str) -> None:
    for arg in args:
        option = arg.split('=', 1)[0]
        if option in MANAGED:
            raise OptionError(f'{option}{where}: the study sets it for each run; {MANAGED[option]}')


def runs_dir(out: str) -> str:
    return os.path.join(out, 'runs')


def tensorboard_dir(out: str) -> str:
    return os.path.join(out, 'tensorboard')


def plan_file(out: str) -> str:
    return os.path.join(out, 'plan.json')


def save_plan(plan: Plan, out: str) -> None:
    os.makedirs(out, exist_ok=True)
    atomic_write_text(plan_file(out), json.dumps(asdict(plan), indent=1) + '\n')


def load_plan(out: str) -> Plan:
    try:
        with open(plan_file(out), encoding='utf-8') as f:
            raw = json.load(f)
    except FileNotFoundError:
        raise OptionError(f'{out} holds no study (no {plan_file(out)})') from None
    except (OSError, ValueError) as exc:
        raise OptionError(f'cannot read {plan_file(out)}: {exc}') from None
    runs = [Run(r['name'], r['config'], r['seed'], tuple(r['train_args'])) for r in raw['runs']]
    return Plan(raw['configs'], tuple(raw['seeds']), tuple(raw['common']), runs)


def check_same_plan(new: Plan, out: str) -> None:
    """A study folder keeps one plan: continuing it with other settings would mix studies."""
    if not os.path.isfile(plan_file(out)):
        return
    old = load_plan(out)
    if asdict(old) != asdict(new):
        changed = [k for k in ('configs', 'seeds', 'common') if asdict(old)[k] != asdict(new)[k]]
        raise OptionError(f"{out} holds a study with other settings ({', '.join(changed) or 'runs'} differ): "
                          f"continue it with the command that started it (see {plan_file(out)}), or use "
                          f"another --out")
