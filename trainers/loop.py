"""The training loop: epochs of generator/discriminator steps with logging, snapshots,
evaluation, and exact resumption.

Progress is counted in training images, as SPADE counts it: ``--print_freq``,
``--display_freq`` and ``--save_latest_freq`` are numbers of images (the global batch is
``--batchSize`` images per iteration, whatever the number of processes).
"""
import argparse
import math
import os
import time
from dataclasses import dataclass
from typing import Optional

import torch
import torch.distributed as dist
import torch.nn as nn
from tqdm import tqdm

import data
from evaluation.options import eval_frequency
from options import opt_file
from trainers import distributed, run_folder, snapshot
from trainers.distributed import Context
from trainers.divergence import DivergenceWatch
from trainers.periodic_eval import PeriodicEvaluator
from trainers.pix2pix_trainer import Pix2PixTrainer
from trainers.rng import capture_rng, restore_rng, seed_everything
from trainers.sampler import ResumableSampler, SeededSamples
from trainers.stop import StopRequest, exit_status
from util.errors import CheckpointError, OptionError
from util.visualizer import Visualizer


@dataclass
class Progress:
    epoch: int = 1          # 1-based, as SPADE's
    epoch_iter: int = 0     # images done in this epoch
    total_steps: int = 0    # images done in all
    iteration: int = 0      # optimiser iterations done in all


def configure_cuda() -> None:
    """Fixed input sizes: let cuDNN pick the fastest kernels. Float32 matmuls and convolutions
    use TF32 tensor cores, as PyTorch already does for convolutions by default."""
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True


class Training:
    """Everything is checked and loaded before anything is written: a refused command (missing
    data, options that do not fit the checkpoints, a run folder in use) leaves the run as it was.
    ``option_files`` (``opt.json``/``opt.txt`` texts by path) are written once start-up succeeded."""

    def __init__(self, opt: argparse.Namespace, ctx: Context, option_files: Optional[dict] = None) -> None:
        self.opt, self.ctx = opt, ctx
        self.run_dir = run_folder.path(opt)
        run_folder.check(opt)
        seed_everything(opt.seed + ctx.rank)
        opt.device = str(ctx.device)
        if ctx.device.type == 'cuda':
            configure_cuda()
        self.dataset = data.create_dataset(opt)
        self.local_batch = opt.batchSize // ctx.world_size
        self.sampler = ResumableSampler(self.dataset, ctx.world_size, ctx.rank, shuffle=not opt.serial_batches,
                                        seed=opt.seed, drop_last=True)
        # its own generator: creating an iterator then draws nothing from torch's global RNG,
        # which an exact resumption mid-epoch relies on
        self.loader = data.create_dataloader(opt, SeededSamples(self.dataset), self.sampler, self.local_batch,
                                             generator=torch.Generator().manual_seed(opt.seed))
        self.trainer = Pix2PixTrainer(opt, ctx)
        self.model = self.trainer.model
        self.progress = Progress()
        self.saved_latest_at = (0, -1)  # (epoch, images)
        self.best: dict = {}
        if opt.continue_train:
            self.resume()
        self.start_run_folder(option_files)
        self.visualizer = Visualizer(opt) if ctx.is_main else None
        self.evaluator = self.make_evaluator()
        self.watch = DivergenceWatch(opt.max_loss, opt.amp == 'fp16', ctx)
        self.stop = StopRequest()
        self.say(distributed.describe(ctx, opt.batchSize, self.trainer.uses_sync_batchnorm()))  # collective

    def start_run_folder(self, option_files: Optional[dict]) -> None:
        """The command was accepted: clear the folder if asked, then record the options."""
        if self.ctx.is_main:
            if self.opt.overwrite_run:
                run_folder.clear(self.opt)
            try:
                os.makedirs(self.run_dir, exist_ok=True)
                opt_file.write(option_files or {})
            except OSError as exc:
                raise OptionError(f'cannot write the run folder {self.run_dir}: {exc.strerror or exc}')
        distributed.barrier(self.ctx)

    def make_evaluator(self) -> Optional[PeriodicEvaluator]:
        if not eval_frequency(self.opt).enabled:
            return None
        evaluator = PeriodicEvaluator(self.opt, self.ctx, self.trainer)
        evaluator.best = dict(self.best)
        return evaluator

    @property
    def total_epochs(self) -> int:
        return self.opt.niter + self.opt.niter_decay

    # ------------------------------------------------------------------ the loop
    def run(self) -> int:
        """Trains to the last epoch; returns the exit status (128 + signal when stopped by one)."""
        try:
            if self.progress.epoch > self.total_epochs:
                self.say(f'{self.run_dir} has already trained its {self.total_epochs} epochs; nothing to do '
                         '(raise --niter or --niter_decay to train on)')
                return 0
            for epoch in range(self.progress.epoch, self.total_epochs + 1):
                signum = self.run_epoch(epoch)
                if signum is not None:
                    return exit_status(signum)
                self.end_epoch(epoch)
            self.say('Training was successfully finished.')
            return 0
        finally:
            self.stop.restore()
            if self.visualizer is not None:
                self.visualizer.close()

    def say(self, message: str) -> None:
        if self.ctx.is_main:
            tqdm.write(message)

    def run_epoch(self, epoch: int) -> Optional[int]:
        """Trains one epoch (or its remainder); the signal's number when stopped by one."""
        start_iter = self.progress.epoch_iter // self.opt.batchSize if epoch == self.progress.epoch else 0
        self.progress.epoch, self.progress.epoch_iter = epoch, start_iter * self.opt.batchSize
        self.sampler.set_epoch(epoch, skip=start_iter * self.local_batch)
        g_lr, _ = self.trainer.update_learning_rate(epoch)
        bar = tqdm(total=len(self.loader) + start_iter, initial=start_iter, desc=f'epoch {epoch}/{self.total_epochs}',
                   unit='it', disable=not self.ctx.is_main, leave=False)
        last = time.time()
        try:
            for i, batch in enumerate(self.loader, start=start_iter):
                self.train_one_iteration(i, batch)
                now = time.time()
                self.after_iteration(batch, g_lr, now - last)
                last = now
                bar.update(1)
                signum = self.stop.agreed(self.ctx)
                if signum is not None:
                    self.stop_for_signal(signum)
                    return signum
        finally:
            bar.close()
        return None

    def stop_for_signal(self, signum: int) -> None:
        self.save('latest')
        self.say(f'stopped by signal {signum}: saved latest at epoch {self.progress.epoch}, '
                 f'{self.progress.epoch_iter} images; resume with --continue_train')

    def train_one_iteration(self, i: int, batch: dict) -> None:
        semantics, real = self.model.preprocess_input(batch)
        if self.opt.channels_last:
            semantics = semantics.contiguous(memory_format=torch.channels_last)
            real = real.contiguous(memory_format=torch.channels_last)
        self.progress.iteration += 1
        if i % self.opt.D_steps_per_G == 0:
            self.trainer.run_generator_one_step(semantics, real, self.progress.iteration)
        else:
            self.trainer.discard_generated()
        self.trainer.run_discriminator_one_step(semantics, real)
        self.watch.observe(self.trainer.losses, self.progress.iteration)
        self.progress.epoch_iter += self.opt.batchSize
        self.progress.total_steps += self.opt.batchSize
        self.last_inputs = (batch['label'], real)

    def due(self, freq: int) -> bool:
        return freq > 0 and self.progress.total_steps % freq < self.opt.batchSize

    def after_iteration(self, batch: dict, g_lr: float, seconds: float) -> None:
        if self.due(self.opt.print_freq):
            self.watch.check(f'at epoch {self.progress.epoch}, image {self.progress.epoch_iter}')
            self.log_losses(g_lr, seconds)
        if self.due(self.opt.display_freq) and self.visualizer is not None and self.trainer.generated is not None:
            label, real = self.last_inputs
            self.visualizer.display_current_results(label, self.trainer.generated, real, self.progress.total_steps)
        if self.due(self.opt.save_latest_freq):
            self.say(f'saving the latest model (epoch {self.progress.epoch}, total_steps {self.progress.total_steps})')
            self.save('latest')
        if self.evaluator is not None and self.evaluator.due_after_iteration(self.progress):
            self.evaluate(self.progress.epoch)

    def log_losses(self, g_lr: float, seconds: float) -> None:
        losses = {k: float(v.detach()) for k, v in self.trainer.losses.items()}
        losses = distributed.all_reduce_mean(losses, self.ctx)
        if self.visualizer is None:
            return
        message = self.visualizer.print_current_errors(self.progress.epoch, self.progress.epoch_iter, losses,
                                                       seconds / self.opt.batchSize)
        tqdm.write(message)
        scalars = dict(losses, lr_G=g_lr, images_per_second=self.opt.batchSize / max(seconds, 1e-9))
        stats = getattr(self.model.criterionVGG, 'last_stats', None) or {}
        scalars.update({f'perceptual/{k}': float(v) for k, v in stats.items()})
        if self.ctx.device.type == 'cuda':
            scalars['gpu_memory_gb'] = torch.cuda.max_memory_allocated(self.ctx.device) / 2 ** 30
        self.visualizer.plot_scalars(scalars, self.progress.total_steps)

    def end_epoch(self, epoch: int) -> None:
        self.progress.epoch, self.progress.epoch_iter = epoch + 1, 0
        self.say(f'End of epoch {epoch} / {self.total_epochs}')
        if epoch % self.opt.save_epoch_freq == 0 or epoch == self.total_epochs:
            self.say(f'saving the model at the end of epoch {epoch}, iters {self.progress.total_steps}')
            self.save('latest')
            self.save(epoch)
        if self.evaluator is not None and self.evaluator.due_after_epoch(epoch):
            self.evaluate(epoch)

    def evaluate(self, epoch: int) -> None:
        self.watch.check(f'before evaluating in epoch {epoch}', self.weights())
        rng = capture_rng()  # evaluating must not change the training that follows (exact resume)
        try:
            result = self.evaluator.run(self.progress, epoch)
        finally:
            restore_rng(rng)
        if result is not None and self.visualizer is not None:
            self.visualizer.plot_scalars(result, self.progress.total_steps, prefix='eval/')
        self.best = self.evaluator.best

    # ------------------------------------------------------------------ snapshots
    def weights(self) -> list:
        """Every tensor a snapshot saves, on the device (screened before saving)."""
        modules = [self.model.netG, self.trainer.netD, self.model.netE, self.trainer.generator_side.heads,
                   self.trainer.ema.shadow if self.trainer.ema is not None else None]
        return [t for m in modules if isinstance(m, nn.Module) for t in m.state_dict().values()]

    def save(self, tag) -> None:
        position = (self.progress.epoch, self.progress.total_steps)
        if str(tag) == 'latest' and self.saved_latest_at == position:
            return  # saved at this very point already
        self.watch.check(f'before saving {tag} (epoch {self.progress.epoch}, image {self.progress.epoch_iter})',
                         self.weights())
        if str(tag) == 'latest':
            self.saved_latest_at = position
        rng = capture_rng()
        if self.ctx.distributed:
            distributed.broadcast_buffers(self.model.netG, self.ctx)
            distributed.broadcast_buffers(self.model.netD, self.ctx)
            gathered = [None] * self.ctx.world_size
            dist.all_gather_object(gathered, rng)
            rng = gathered
        else:
            rng = [rng]
        problem = self.write_snapshot(tag, rng) if self.ctx.is_main else None
        if distributed.any_rank(problem is not None, self.ctx):
            raise CheckpointError(problem or f'rank 0 could not save the {tag} snapshot')

    def write_snapshot(self, tag, rng: list) -> Optional[str]:
        """Writes the snapshot (rank 0); a message instead of an exception if the disk refuses."""
        state = dict(vars(self.progress), world_size=self.ctx.world_size, rng=rng, best=self.best,
                     **self.trainer.optimizer_states())
        try:
            snapshot.save_snapshot(self.run_dir, tag, self.trainer.network_states(), state)
        except OSError as exc:
            where = exc.filename or self.run_dir
            return (f'could not save the {tag} snapshot: {where}: {exc.strerror or exc}; the snapshot before it is '
                    'intact: make room and resume with --continue_train')
        return None

    def resume(self) -> None:
        tag = self.opt.which_epoch
        if not snapshot.has_train_state(self.run_dir, tag):
            self.resume_from_networks_only(tag)
            return
        nets, state = snapshot.load_snapshot(self.run_dir, tag)
        self.trainer.load_network_states(nets, os.path.join(self.run_dir, f'{tag}_*'))
        self.trainer.load_optimizer_states(state)
        self.progress = Progress(state['epoch'], state['epoch_iter'], state['total_steps'], state['iteration'])
        self.best = state.get('best', {})
        rng = state['rng']
        if len(rng) == self.ctx.world_size:
            restore_rng(rng[self.ctx.rank])
        else:
            seed_everything(self.opt.seed + self.ctx.rank + self.progress.iteration)
        if self.ctx.is_main:
            print(f'Resuming from epoch {self.progress.epoch} at image {self.progress.epoch_iter} '
                  f'({self.progress.iteration} iterations done)')

    def resume_from_networks_only(self, tag) -> None:
        """A run without a training state (e.g. an official SPADE checkpoint folder): load the
        networks, start the optimisers afresh, and take the position from SPADE's iter.txt."""
        try:
            self.model.load(tag)
        except CheckpointError as exc:
            raise CheckpointError(f'--continue_train: {exc}')
        position = snapshot.read_spade_iter_file(self.run_dir)
        if position is not None:
            epoch, epoch_iter = position
            batches_per_epoch = len(self.loader) * self.opt.batchSize
            self.progress = Progress(epoch, epoch_iter, (epoch - 1) * batches_per_epoch + epoch_iter,
                                     math.ceil(((epoch - 1) * batches_per_epoch + epoch_iter) / self.opt.batchSize))
        if self.trainer.ema is not None:
            self.trainer.ema.shadow.load_state_dict(self.model.netG.state_dict())
        if self.ctx.is_main:
            print(f'--continue_train: no training state in {self.run_dir}; loaded the {tag} networks and '
                  f'start the optimisers afresh at epoch {self.progress.epoch}')


def train(opt: argparse.Namespace, option_files: Optional[dict] = None) -> int:
    """Trains in this process (one rank of a distributed run, if launched as one); returns the
    exit status. ``option_files`` are written to the run folder once start-up succeeded."""
    ctx = distributed.setup(opt)
    distributed.quiet_unless_main(ctx)
    try:
        return Training(opt, ctx, option_files).run()
    finally:
        distributed.cleanup()
