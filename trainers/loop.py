"""The training loop: epochs of generator/discriminator steps, with logging, snapshots and
evaluation at their frequencies, and exact resumption.

Progress is counted in training images, as SPADE counts it: ``--print_freq``,
``--display_freq``, ``--save_latest_freq`` and ``--eval_freq N`` are numbers of images (the
global batch is ``--batchSize`` images per iteration, whatever the number of processes).

The loop never waits for the device inside an iteration: losses are read, the divergence
verdict is taken and (with several processes) the ranks agree on a stop signal only at the
points that wait anyway: logging, snapshots, evaluation, the end of an epoch.
"""
import argparse
import os
import time
from typing import Optional

import torch
from tqdm import tqdm

import data
from evaluation.options import eval_frequency
from options import opt_file
from runs import layout
from trainers import distributed, resume
from trainers.distributed import Context
from trainers.divergence import DivergenceWatch
from trainers.pix2pix_trainer import Pix2PixTrainer
from trainers.resume import Progress
from trainers.rng import capture_rng, restore_rng, seed_everything
from trainers.sampler import ResumableSampler, SeededSamples
from trainers.stop import StopRequest, exit_status
from trainers.visualizer import Visualizer
from util import provenance
from util.errors import OptionError


def train(opt: argparse.Namespace, option_files: Optional[dict] = None) -> int:
    """Trains in this process (one rank of a distributed run, if launched as one); returns the
    exit status. ``option_files`` are written to the run folder once start-up succeeded."""
    ctx = distributed.setup(opt)
    distributed.quiet_unless_main(ctx)
    try:
        return Training(opt, ctx, option_files).run()
    finally:
        distributed.cleanup()


def configure_cuda() -> None:
    """Fixed input sizes: let cuDNN pick the fastest kernels. Float32 matmuls and convolutions
    use TF32 tensor cores, as PyTorch already does for convolutions by default."""
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True


class Training:
    """Everything is checked and loaded before anything is written: a refused command (missing
    data, options that do not fit the checkpoints, a run folder in use) leaves the run as it was."""

    def __init__(self, opt: argparse.Namespace, ctx: Context, option_files: Optional[dict] = None) -> None:
        self.opt, self.ctx = opt, ctx
        self.run_dir = layout.run_dir(opt)
        layout.check_can_train(opt)
        seed_everything(opt.seed + ctx.rank)
        if ctx.device.type == 'cuda':
            configure_cuda()
        # data: the order and the augmentation are functions of (seed, epoch, sample)
        self.dataset = data.create_dataset(opt)
        self.local_batch = opt.batchSize // ctx.world_size
        self.sampler = ResumableSampler(self.dataset, ctx.world_size, ctx.rank, shuffle=not opt.serial_batches,
                                        seed=opt.seed, drop_last=True)
        self.loader = data.create_dataloader(opt, SeededSamples(self.dataset), self.sampler, self.local_batch,
                                             generator=torch.Generator().manual_seed(opt.seed))
        # networks, objective, optimisers; then the snapshot to continue from
        self.trainer = Pix2PixTrainer(opt, ctx)
        self.progress, self.best = Progress(), {}
        if opt.continue_train:
            self.progress, self.best = resume.resume(opt, self.trainer, ctx, len(self.loader))
        # accepted: from here on the run folder is written
        self.start_run_folder(option_files)
        self.visualizer = Visualizer(opt) if ctx.is_main else None
        self.evaluator = self.make_evaluator()
        self.watch = DivergenceWatch(opt.max_loss, self.trainer.precision.scales_losses, ctx)
        self.stop = StopRequest()
        self.saved_latest_at = (0, -1)  # (epoch, images) of the last 'latest' snapshot
        self.say(distributed.describe(ctx, opt.batchSize, self.trainer.uses_sync_batchnorm()))  # collective

    def start_run_folder(self, option_files: Optional[dict]) -> None:
        """The command was accepted: clear the folder if asked, then record the options."""
        if self.ctx.is_main:
            if self.opt.overwrite_run:
                layout.clear(self.opt)
            try:
                os.makedirs(self.run_dir, exist_ok=True)
                opt_file.write(option_files or {})
                # the build that trains it (commit, torch, instruction sets, threads): what regenerating it needs
                provenance.record(os.path.join(self.run_dir, layout.PROVENANCE), afresh=not self.opt.continue_train)
            except OSError as exc:
                raise OptionError(f'cannot write the run folder {self.run_dir}: {exc.strerror or exc}')
        distributed.barrier(self.ctx)

    def make_evaluator(self):
        frequency = eval_frequency(self.opt)
        if not frequency.enabled:
            return None
        self.say(f'--eval_freq {self.opt.eval_freq}: scoring {self.opt.eval_num} validation images '
                 f'{frequency.describe()}')
        from trainers.periodic_eval import PeriodicEvaluator  # the metric stack, only when asked for
        evaluator = PeriodicEvaluator(self.opt, self.ctx, self.trainer)
        evaluator.best = dict(self.best)
        return evaluator

    @property
    def total_epochs(self) -> int:
        return self.opt.niter + self.opt.niter_decay

    def say(self, message: str) -> None:
        if self.ctx.is_main:
            tqdm.write(message)

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
                    self.save('latest')
                    self.say(f'stopped by signal {signum}: saved latest at epoch {self.progress.epoch}, '
                             f'{self.progress.epoch_images} images; resume with --continue_train')
                    return exit_status(signum)
                self.end_epoch(epoch)
            self.say('Training was successfully finished.')
            return 0
        finally:
            self.stop.restore()
            if self.visualizer is not None:
                self.visualizer.close()

    def run_epoch(self, epoch: int) -> Optional[int]:
        """Trains one epoch (or what is left of it); the signal's number if one stops it."""
        done = self.progress.epoch_images // self.opt.batchSize if epoch == self.progress.epoch else 0
        self.progress.epoch, self.progress.epoch_images = epoch, done * self.opt.batchSize
        self.sampler.set_epoch(epoch, skip=done * self.local_batch)
        g_lr, _ = self.trainer.update_learning_rate(epoch)
        bar = tqdm(total=len(self.loader) + done, initial=done, desc=f'epoch {epoch}/{self.total_epochs}',
                   unit='it', disable=not self.ctx.is_main, leave=False)
        last = time.time()
        try:
            for i, batch in enumerate(self.loader, start=done):
                self.train_one_iteration(i, batch)
                now = time.time()
                synced = self.at_frequencies(g_lr, now - last)
                last = now
                bar.update(1)
                signum = self.stop.agreed(self.ctx) if synced or not self.ctx.distributed else None
                if signum is not None:
                    return signum
        finally:
            bar.close()
        return self.stop.agreed(self.ctx)  # the end of an epoch: a point where all ranks meet

    def train_one_iteration(self, i: int, batch: dict) -> None:
        semantics, real = map(self.trainer.precision.prepare_input, self.trainer.encode(batch))
        self.progress.iteration += 1
        if i % self.opt.D_steps_per_G == 0:
            self.trainer.run_generator_one_step(semantics, real, self.progress.iteration)
        else:
            self.trainer.discard_generated()
        self.trainer.run_discriminator_one_step(semantics, real)
        self.watch.observe(self.trainer.losses, self.progress.iteration)
        self.progress.epoch_images += self.opt.batchSize
        self.progress.total_images += self.opt.batchSize
        self.last_inputs = (batch['label'], real)

    def due(self, every_images: int) -> bool:
        """Whether this iteration's images passed a multiple of ``every_images``."""
        return self.progress.total_images % every_images < self.opt.batchSize

    def at_frequencies(self, g_lr: float, seconds: float) -> bool:
        """Logs, displays, saves and evaluates where due; True if the ranks met (synchronised)."""
        synced = False
        if self.due(self.opt.print_freq):
            self.watch.check(f'at epoch {self.progress.epoch}, image {self.progress.epoch_images}')
            self.log_losses(g_lr, seconds)
            synced = True
        if self.due(self.opt.display_freq) and self.visualizer is not None and self.trainer.generated is not None:
            label, real = self.last_inputs
            self.visualizer.display_current_results(label, self.trainer.generated, real, self.progress.total_images)
        if self.due(self.opt.save_latest_freq):
            self.say(f'saving the latest model (epoch {self.progress.epoch}, total images {self.progress.total_images})')
            self.save('latest')
            synced = True
        if self.evaluator is not None and self.evaluator.due_after_images(self.progress.total_images):
            self.evaluate(self.progress.epoch)
            synced = True
        return synced

    def log_losses(self, g_lr: float, seconds: float) -> None:
        losses = {k: float(v.detach()) for k, v in self.trainer.losses.items()}
        losses = distributed.all_reduce_mean(losses, self.ctx)
        if self.visualizer is None:
            return
        message = self.visualizer.print_current_errors(self.progress.epoch, self.progress.epoch_images, losses,
                                                       seconds / self.opt.batchSize)
        tqdm.write(message)
        scalars = dict(losses, lr_G=g_lr, images_per_second=self.opt.batchSize / max(seconds, 1e-9))
        scalars.update({f'perceptual/{k}': float(v) for k, v in self.trainer.objective.perceptual_stats().items()})
        if self.ctx.device.type == 'cuda':
            scalars['gpu_memory_gb'] = torch.cuda.max_memory_allocated(self.ctx.device) / 2 ** 30
        self.visualizer.plot_scalars(scalars, self.progress.total_images)

    def end_epoch(self, epoch: int) -> None:
        self.progress.epoch, self.progress.epoch_images = epoch + 1, 0
        self.say(f'End of epoch {epoch} / {self.total_epochs}')
        if epoch % self.opt.save_epoch_freq == 0 or epoch == self.total_epochs:
            self.say(f'saving the model at the end of epoch {epoch}, total images {self.progress.total_images}')
            self.save('latest')
            self.save(epoch)
        if self.evaluator is not None and self.evaluator.due_after_epoch(epoch):
            self.evaluate(epoch)

    def evaluate(self, epoch: int) -> None:
        self.watch.check(f'before evaluating in epoch {epoch}', self.weights())
        rng = capture_rng()  # evaluating must not change the training that follows (exact resume)
        try:
            result = self.evaluator.run(self.progress.total_images, epoch)
        finally:
            restore_rng(rng)
        if result is not None and self.visualizer is not None:
            self.visualizer.plot_scalars(result, self.progress.total_images, prefix='eval/')
        self.best = self.evaluator.best

    # ------------------------------------------------------------------ snapshots
    def weights(self) -> list:
        """Every tensor a snapshot saves, on the device (screened before saving)."""
        return [t for net in self.trainer.saved_networks().values() for t in net.state_dict().values()]

    def save(self, tag) -> None:
        position = (self.progress.epoch, self.progress.total_images)
        if str(tag) == 'latest' and self.saved_latest_at == position:
            return  # saved at this very point already
        self.watch.check(f'before saving {tag} (epoch {self.progress.epoch}, image {self.progress.epoch_images})',
                         self.weights())
        if str(tag) == 'latest':
            self.saved_latest_at = position
        resume.save(tag, self.trainer, self.progress, self.best, self.run_dir, self.ctx)
