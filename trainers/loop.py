"""The training loop: epochs of generator/discriminator steps with logging, snapshots,
evaluation, and exact resumption.

Progress is counted in training images, as SPADE counts it: ``--print_freq``,
``--display_freq`` and ``--save_latest_freq`` are numbers of images (the global batch is
``--batchSize`` images per iteration, whatever the number of processes).
"""
import argparse
import math
import os
import random
import signal
import time
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

import data
from evaluation.options import eval_frequency
from trainers import distributed, snapshot
from trainers.distributed import Context
from trainers.periodic_eval import PeriodicEvaluator
from trainers.pix2pix_trainer import Pix2PixTrainer
from trainers.sampler import ResumableSampler
from util.errors import CheckpointError
from util.visualizer import Visualizer


@dataclass
class Progress:
    epoch: int = 1          # 1-based, as SPADE's
    epoch_iter: int = 0     # images done in this epoch
    total_steps: int = 0    # images done in all
    iteration: int = 0      # optimiser iterations done in all


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)


def configure_cuda() -> None:
    """Fixed input sizes: let cuDNN pick the fastest kernels. Float32 matmuls and convolutions
    use TF32 tensor cores, as PyTorch already does for convolutions by default."""
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True


def capture_rng() -> dict:
    """Every RNG state as plain Python values (bytes, lists), which both ``all_gather_object``
    and ``torch.load(weights_only=True)`` accept."""
    kind, keys, *rest = np.random.get_state()
    state = {'python': random.getstate(), 'numpy': (kind, keys.tolist(), *rest),
             'torch': bytes(torch.get_rng_state().numpy())}
    if torch.cuda.is_available():
        state['cuda'] = [bytes(s.numpy()) for s in torch.cuda.get_rng_state_all()]
    return state


def restore_rng(state: dict) -> None:
    random.setstate(_as_tuples(state['python']))
    kind, keys, *rest = state['numpy']
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), *rest))
    torch.set_rng_state(_byte_tensor(state['torch']))
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([_byte_tensor(s) for s in state['cuda']])


def _byte_tensor(payload: bytes) -> torch.Tensor:
    return torch.frombuffer(bytearray(payload), dtype=torch.uint8)


def _as_tuples(value):
    return tuple(_as_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value


class StopRequest:
    """SIGINT/SIGTERM set a flag; the loop saves ``latest`` at the end of the iteration and exits."""

    def __init__(self) -> None:
        self.requested = False
        self.previous = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self.previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread (e.g. an embedding application)
                pass

    def _handle(self, signum, frame) -> None:
        self.requested = True

    def agreed(self, ctx: Context) -> bool:
        """All processes stop together if any one was signalled."""
        if not ctx.distributed:
            return self.requested
        flag = torch.tensor([1.0 if self.requested else 0.0], device=ctx.device)
        dist.all_reduce(flag)
        return bool(flag.item() > 0)

    def restore(self) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


class Training:
    def __init__(self, opt: argparse.Namespace, ctx: Context) -> None:
        self.opt, self.ctx = opt, ctx
        self.run_dir = os.path.join(opt.checkpoints_dir, opt.name)
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
        self.loader = data.create_dataloader(opt, self.dataset, self.sampler, self.local_batch,
                                             generator=torch.Generator().manual_seed(opt.seed))
        self.trainer = Pix2PixTrainer(opt, ctx)
        self.model = self.trainer.model
        self.progress = Progress()
        self.saved_latest_at = -1
        self.best: dict = {}
        if opt.continue_train:
            self.resume()
        self.visualizer = Visualizer(opt) if ctx.is_main else None
        self.evaluator = self.make_evaluator()
        self.stop = StopRequest()

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
    def run(self) -> None:
        try:
            for epoch in range(self.progress.epoch, self.total_epochs + 1):
                if not self.run_epoch(epoch):
                    return
                self.end_epoch(epoch)
            if self.ctx.is_main:
                print('Training was successfully finished.')
        finally:
            self.stop.restore()
            if self.visualizer is not None:
                self.visualizer.close()

    def run_epoch(self, epoch: int) -> bool:
        """Trains one epoch (or its remainder); False when stopped by a signal."""
        start_iter = self.progress.epoch_iter // self.opt.batchSize if epoch == self.progress.epoch else 0
        self.progress.epoch, self.progress.epoch_iter = epoch, start_iter * self.opt.batchSize
        self.sampler.set_epoch(epoch, skip=start_iter * self.local_batch)
        g_lr, _ = self.trainer.update_learning_rate(epoch)
        bar = tqdm(total=len(self.loader) + start_iter, initial=start_iter, desc=f'epoch {epoch}/{self.total_epochs}',
                   unit='it', disable=not self.ctx.is_main, leave=False)
        last = time.time()
        for i, batch in enumerate(self.loader, start=start_iter):
            self.train_one_iteration(i, batch)
            now = time.time()
            self.after_iteration(batch, g_lr, now - last)
            last = now
            bar.update(1)
            if self.stop.agreed(self.ctx):
                bar.close()
                self.save('latest')
                if self.ctx.is_main:
                    print(f'stopped by a signal: saved latest at epoch {epoch}, {self.progress.epoch_iter} images')
                return False
        bar.close()
        return True

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
        self.progress.epoch_iter += self.opt.batchSize
        self.progress.total_steps += self.opt.batchSize
        self.last_inputs = (batch['label'], real)

    def due(self, freq: int) -> bool:
        return freq > 0 and self.progress.total_steps % freq < self.opt.batchSize

    def after_iteration(self, batch: dict, g_lr: float, seconds: float) -> None:
        if self.due(self.opt.print_freq):
            self.log_losses(g_lr, seconds)
        if self.due(self.opt.display_freq) and self.visualizer is not None and self.trainer.generated is not None:
            label, real = self.last_inputs
            self.visualizer.display_current_results(label, self.trainer.generated, real, self.progress.total_steps)
        if self.due(self.opt.save_latest_freq):
            if self.ctx.is_main:
                tqdm.write(f'saving the latest model (epoch {self.progress.epoch}, '
                           f'total_steps {self.progress.total_steps})')
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
        if self.ctx.is_main:
            tqdm.write(f'End of epoch {epoch} / {self.total_epochs}')
        if epoch % self.opt.save_epoch_freq == 0 or epoch == self.total_epochs:
            if self.ctx.is_main:
                tqdm.write(f'saving the model at the end of epoch {epoch}, iters {self.progress.total_steps}')
            self.save('latest')
            self.save(epoch)
        if self.evaluator is not None and self.evaluator.due_after_epoch(epoch):
            self.evaluate(epoch)

    def evaluate(self, epoch: int) -> None:
        rng = capture_rng()  # evaluating must not change the training that follows (exact resume)
        try:
            result = self.evaluator.run(self.progress, epoch)
        finally:
            restore_rng(rng)
        if result is not None and self.visualizer is not None:
            self.visualizer.plot_scalars(result, self.progress.total_steps, prefix='eval/')
        self.best = self.evaluator.best

    # ------------------------------------------------------------------ snapshots
    def save(self, tag) -> None:
        if str(tag) == 'latest' and self.saved_latest_at == self.progress.total_steps:
            return  # e.g. at the end of an epoch right after a periodic save: same weights
        if str(tag) == 'latest':
            self.saved_latest_at = self.progress.total_steps
        rng = capture_rng()
        if self.ctx.distributed:
            distributed.broadcast_buffers(self.model.netG, self.ctx)
            distributed.broadcast_buffers(self.model.netD, self.ctx)
            gathered = [None] * self.ctx.world_size
            dist.all_gather_object(gathered, rng)
            rng = gathered
        else:
            rng = [rng]
        if self.ctx.is_main:
            state = dict(vars(self.progress), world_size=self.ctx.world_size, rng=rng, best=self.best,
                         **self.trainer.optimizer_states())
            snapshot.save_snapshot(self.run_dir, tag, self.trainer.network_states(), state)
        distributed.barrier(self.ctx)

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


def train(opt: argparse.Namespace) -> None:
    ctx = distributed.setup(opt)
    try:
        Training(opt, ctx).run()
    finally:
        distributed.cleanup()
