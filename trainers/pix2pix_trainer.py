"""One training step of SPADE's objective: the generator update, then the discriminator's.

Differences from SPADE's trainer, each for a reason:
- the discriminator step reuses the generator step's fakes (detached) instead of running G a
  second time: a third less generator compute per iteration. SPADE's regeneration (with the
  just-updated G, which also advances G's BatchNorm statistics and spectral-norm vectors a
  second time) is ``--recompute_fake_for_D``.
- mixed precision (``--amp bf16|fp16``, fp16 with one GradScaler per optimiser), optional
  ``--channels_last`` and ``--compile``, and a generator EMA (``--ema``).
- DistributedDataParallel instead of DataParallel; D's parameters are frozen while G trains,
  so the generator step neither computes nor all-reduces gradients for D.
"""
import argparse
import contextlib
from typing import Optional

import torch
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel as DDP

from models.pix2pix_model import Pix2PixModel
from trainers.distributed import Context
from trainers.ema import GeneratorEMA
from util.checkpoint import cpu_state_dict, load_state_dict_strict

AMP_DTYPES = {'bf16': torch.bfloat16, 'fp16': torch.float16}


class GeneratorSide(nn.Module):
    """Everything the generator's optimiser trains (G, the VAE encoder, the contrastive MLP
    heads) in one module, so that one DDP wrapper keeps all of it in sync."""

    def __init__(self, model: Pix2PixModel) -> None:
        super().__init__()
        self.netG = model.netG
        self.netE = model.netE
        heads = getattr(model.criterionVGG, 'heads', None)
        self.heads = heads if heads is not None and any(True for _ in heads.parameters()) else None
        self._model = [model]  # a plain list: not registered as a submodule

    def forward(self, semantics: torch.Tensor, real: torch.Tensor):
        return self._model[0].generator_forward(semantics, real, self.netG, self.netE)


class Pix2PixTrainer:
    def __init__(self, opt: argparse.Namespace, ctx: Context) -> None:
        self.opt, self.ctx = opt, ctx
        self.model = Pix2PixModel(opt, load=False)
        if ctx.distributed and ctx.device.type == 'cuda':  # SPADE's synchronised BatchNorm
            self.model.netG = nn.SyncBatchNorm.convert_sync_batchnorm(self.model.netG)
        if opt.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.generator_side = GeneratorSide(self.model)
        self.netD = self.model.netD
        self.g_step_module = self._wrap(self.generator_side)
        self.d_step_module = self._wrap(self.netD)
        self.optimizer_G, self.optimizer_D = self.create_optimizers(opt)
        scaling = opt.amp == 'fp16'
        self.scaler_G = torch.amp.GradScaler(ctx.device.type, enabled=scaling)
        self.scaler_D = torch.amp.GradScaler(ctx.device.type, enabled=scaling)
        self.ema = GeneratorEMA(self.model.netG, opt.ema_decay, opt.ema_start) if opt.ema else None
        self.generated: Optional[torch.Tensor] = None
        self.losses: dict = {}

    def _wrap(self, module: nn.Module) -> nn.Module:
        if self.ctx.distributed:
            ids = [self.ctx.device.index] if self.ctx.device.type == 'cuda' else None
            module = DDP(module, device_ids=ids)
        return torch.compile(module) if self.opt.compile else module

    def create_optimizers(self, opt: argparse.Namespace):
        g_params = [p for p in self.generator_side.parameters() if p.requires_grad]
        g_lr, d_lr = self.learning_rates(opt.lr)
        fused = self.ctx.device.type == 'cuda'  # one kernel per step on GPU; the CPU keeps the reference path
        optimizer_G = torch.optim.Adam(g_params, lr=g_lr, betas=(opt.beta1, opt.beta2), fused=fused)
        optimizer_D = torch.optim.Adam(self.netD.parameters(), lr=d_lr, betas=(opt.beta1, opt.beta2), fused=fused)
        return optimizer_G, optimizer_D

    def learning_rates(self, lr: float) -> tuple[float, float]:
        """TTUR (G at half, D at twice the rate) unless ``--no_TTUR``."""
        return (lr, lr) if self.opt.no_TTUR else (lr / 2, lr * 2)

    def autocast(self):
        if self.opt.amp == 'none':
            return contextlib.nullcontext()
        return torch.autocast(self.ctx.device.type, dtype=AMP_DTYPES[self.opt.amp])

    # ------------------------------------------------------------------ steps
    def run_generator_one_step(self, semantics: torch.Tensor, real: torch.Tensor, iteration: int) -> dict:
        self.netD.requires_grad_(False)
        try:
            with self.autocast():
                fake, mu, logvar = self.g_step_module(semantics, real)
                losses = self.model.generator_losses(semantics, fake, real, mu, logvar, netD=self.netD)
            self._step(losses, self.optimizer_G, self.scaler_G)
        finally:
            self.netD.requires_grad_(True)
        if self.ema is not None:
            self.ema.update(self.model.netG, iteration)
        self.generated = fake.detach()
        self.losses.update(losses)
        return losses

    def run_discriminator_one_step(self, semantics: torch.Tensor, real: torch.Tensor) -> dict:
        if self.generated is None or self.opt.recompute_fake_for_D:
            with torch.no_grad(), self.autocast():
                self.generated = self.g_step_module(semantics, real)[0].detach()
        with self.autocast():
            losses = self.model.discriminator_losses(semantics, self.generated, real, netD=self.d_step_module)
        self._step(losses, self.optimizer_D, self.scaler_D)
        self.losses.update(losses)
        return losses

    def discard_generated(self) -> None:
        """Forget this iteration's fakes (a later D step without a G step generates anew)."""
        self.generated = None

    @staticmethod
    def _step(losses: dict, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler) -> None:
        total = sum(losses.values())
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(total).backward()
        scaler.step(optimizer)
        scaler.update()

    # ------------------------------------------------------------------ schedule
    def lr_for_epoch(self, epoch: int) -> float:
        """SPADE's schedule: constant for ``niter`` epochs, then linear to zero over
        ``niter_decay`` (SPADE lowers the rate at the end of each epoch past ``niter``)."""
        if self.opt.niter_decay <= 0:
            return self.opt.lr
        decayed_epochs = max(0, epoch - 1 - self.opt.niter)
        return self.opt.lr * max(0.0, 1.0 - decayed_epochs / self.opt.niter_decay)

    def update_learning_rate(self, epoch: int) -> tuple[float, float]:
        g_lr, d_lr = self.learning_rates(self.lr_for_epoch(epoch))
        for group in self.optimizer_G.param_groups:
            group['lr'] = g_lr
        for group in self.optimizer_D.param_groups:
            group['lr'] = d_lr
        return g_lr, d_lr

    # ------------------------------------------------------------------ state
    def network_states(self) -> dict:
        """CPU state dicts of every network file of a snapshot, by SPADE label."""
        states = {'G': cpu_state_dict(self.model.netG), 'D': cpu_state_dict(self.netD)}
        if self.model.netE is not None:
            states['E'] = cpu_state_dict(self.model.netE)
        if self.ema is not None:
            states['G_ema'] = cpu_state_dict(self.ema.shadow)
        if self.generator_side.heads is not None:
            states['heads'] = cpu_state_dict(self.generator_side.heads)
        return states

    def load_network_states(self, states: dict, source: str) -> None:
        targets = {'G': self.model.netG, 'D': self.netD, 'E': self.model.netE,
                   'G_ema': self.ema.shadow if self.ema is not None else None, 'heads': self.generator_side.heads}
        for label, module in targets.items():
            if module is not None and label in states:
                load_state_dict_strict(module, states[label], f'{source} (net_{label})', label[0])
        if self.ema is not None and 'G_ema' not in states:
            self.ema.shadow.load_state_dict(self.model.netG.state_dict())

    def optimizer_states(self) -> dict:
        return {'optimizer_G': self.optimizer_G.state_dict(), 'optimizer_D': self.optimizer_D.state_dict(),
                'scaler_G': self.scaler_G.state_dict(), 'scaler_D': self.scaler_D.state_dict()}

    def load_optimizer_states(self, state: dict) -> None:
        self.optimizer_G.load_state_dict(state['optimizer_G'])
        self.optimizer_D.load_state_dict(state['optimizer_D'])
        if state.get('scaler_G'):
            self.scaler_G.load_state_dict(state['scaler_G'])
        if state.get('scaler_D'):
            self.scaler_D.load_state_dict(state['scaler_D'])

    def uses_sync_batchnorm(self) -> bool:
        return any(isinstance(m, nn.SyncBatchNorm) for m in self.model.netG.modules())

    def inference_generator(self) -> nn.Module:
        """The generator evaluation and image logging should use: the EMA copy when on."""
        return self.ema.shadow if self.ema is not None else self.model.netG
