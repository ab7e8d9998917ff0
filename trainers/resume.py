"""What a training snapshot holds beyond the networks, and how training goes back to one.

A snapshot records the position (:class:`Progress`), the optimisers and loss scalers, every
process's random generators and the best evaluation so far; restoring it continues the run
exactly where it stopped. A SPADE run folder without a training state is continued from its
network files and SPADE's ``iter.txt``, with fresh optimisers.
"""
import argparse
import math
import os
from dataclasses import asdict, dataclass
from typing import Optional

import torch.distributed as dist

from runs import layout, snapshot
from runs.networks import load as load_network_file
from trainers import distributed
from trainers.distributed import Context
from trainers.pix2pix_trainer import Pix2PixTrainer
from trainers.rng import capture_rng, restore_rng, seed_everything
from util.errors import CheckpointError

# position keys of snapshots written before the images/iterations names were made to agree
OLD_NAMES = {'epoch_images': 'epoch_iter', 'total_images': 'total_steps'}


@dataclass
class Progress:
    """Where training is. Like SPADE, progress is counted in training images."""
    epoch: int = 1          # 1-based, as SPADE's
    epoch_images: int = 0   # images done in this epoch
    total_images: int = 0   # images done in all
    iteration: int = 0      # optimiser iterations done in all

    @classmethod
    def from_state(cls, state: dict) -> 'Progress':
        return cls(**{key: state[key] if key in state else state[OLD_NAMES[key]] for key in asdict(cls())})


def save(tag, trainer: Pix2PixTrainer, progress: Progress, best: dict, run_dir: str, ctx: Context) -> None:
    """Every process hands in its RNG states; rank 0 writes the snapshot. Raises (on every
    process alike) a :class:`CheckpointError` when the disk refuses, the previous one intact."""
    rng = capture_rng()
    if ctx.distributed:
        distributed.broadcast_buffers(trainer.nets.netG, ctx)
        distributed.broadcast_buffers(trainer.nets.netD, ctx)
        gathered = [None] * ctx.world_size
        dist.all_gather_object(gathered, rng)
        rngs = gathered
    else:
        rngs = [rng]
    problem = None
    if ctx.is_main:
        state = dict(asdict(progress), world_size=ctx.world_size, rng=rngs, best=best, **trainer.optimizer_states())
        problem = _write(tag, trainer, state, run_dir)
    if distributed.any_rank(problem is not None, ctx):
        raise CheckpointError(problem or f'rank 0 could not save the {tag} snapshot')


def _write(tag, trainer: Pix2PixTrainer, state: dict, run_dir: str) -> Optional[str]:
    try:
        snapshot.save_snapshot(run_dir, tag, trainer.network_states(), state)
    except OSError as exc:
        where = exc.filename or run_dir
        return (f'could not save the {tag} snapshot: {where}: {exc.strerror or exc}; the snapshot before it is '
                'intact: make room and resume with --continue_train')
    return None


def resume(opt: argparse.Namespace, trainer: Pix2PixTrainer, ctx: Context,
           batches_per_epoch: int) -> tuple[Progress, dict]:
    """``--continue_train``: (progress, best evaluation) restored from ``--which_epoch``."""
    run_dir, tag = layout.run_dir(opt), opt.which_epoch
    if not snapshot.has_train_state(run_dir, tag):
        return _resume_spade_folder(opt, trainer, ctx, batches_per_epoch), {}
    nets, state = snapshot.load_snapshot(run_dir, tag)
    trainer.load_network_states(nets, os.path.join(run_dir, f'{tag}_*'))
    trainer.load_optimizer_states(state)
    progress = Progress.from_state(state)
    rng = state['rng']
    if len(rng) == ctx.world_size:
        restore_rng(rng[ctx.rank])
    else:  # another number of processes: the streams cannot continue, start new ones
        seed_everything(opt.seed + ctx.rank + progress.iteration)
    if ctx.is_main:
        print(f'Resuming from epoch {progress.epoch} at image {progress.epoch_images} '
              f'({progress.iteration} iterations done)')
    return progress, state.get('best', {})


def _resume_spade_folder(opt: argparse.Namespace, trainer: Pix2PixTrainer, ctx: Context,
                         batches_per_epoch: int) -> Progress:
    """A folder without a training state (e.g. an official SPADE run): its networks, fresh
    optimisers, and the position from SPADE's ``iter.txt``."""
    run_dir, tag = layout.run_dir(opt), opt.which_epoch
    try:
        for label, net in trainer.nets.by_label().items():
            if label != 'heads':  # SPADE has none: they start afresh
                load_network_file(net, layout.network_file(run_dir, tag, label), label)
    except CheckpointError as exc:
        raise CheckpointError(f'--continue_train: {exc}')
    if trainer.ema is not None:
        trainer.ema.shadow.load_state_dict(trainer.nets.netG.state_dict())
    progress = Progress()
    position = snapshot.read_spade_iter_file(run_dir)
    if position is not None:
        epoch, epoch_images = position
        total = (epoch - 1) * batches_per_epoch * opt.batchSize + epoch_images
        progress = Progress(epoch, epoch_images, total, math.ceil(total / opt.batchSize))
    if ctx.is_main:
        print(f'--continue_train: no training state in {run_dir}; loaded the {tag} networks and '
              f'start the optimisers afresh at epoch {progress.epoch}')
    return progress
