"""One training step of SPADE's objective: the generator update, then the discriminator's.

Differences from SPADE's trainer, each for a reason:
- the discriminator step reuses the generator step's fakes (detached) instead of running G a
  second time: a third less generator compute per iteration. SPADE's regeneration (with the
  just-updated G, which also advances G's BatchNorm statistics and spectral-norm vectors a
  second time) is ``--recompute_fake_for_D``.
- mixed precision (``--amp bf16|fp16``, fp16 with one GradScaler per optimiser), optional
  ``--channels_last`` and ``--compile``, and a generator EMA (``--ema``).
- DistributedDataParallel instead of DataParallel; D's parameters are frozen while G trains,
  so the generator step neither computes nor all-reduces gradients for D. Each DDP wrapper
  holds the networks its forward runs: G and the VAE encoder in one, the contrastive heads
  (``--nce_mlp``) with the perceptual loss that runs them in another.
"""
import argparse
from typing import Optional

import torch
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel as DDP

from models.input_encoding import InputEncoder
from models.objective import Objective, generate
from models.pix2pix_networks import Pix2PixNetworks
from runs.networks import cpu_state_dict, load_state
from trainers.distributed import Context
from trainers.ema import GeneratorEMA
from trainers.schedule import learning_rate
from util.precision import Precision


class GeneratorSide(nn.Module):
    """G and the VAE encoder in one module, whose forward generates, so that one DDP wrapper
    keeps both in sync. The contrastive heads, also trained by the generator's optimiser, are
    not here: they run in the perceptual loss, which has its own wrapper."""

    def __init__(self, nets: Pix2PixNetworks) -> None:
        super().__init__()
        self.netG, self.netE = nets.netG, nets.netE

    def forward(self, semantics: torch.Tensor, real: torch.Tensor):
        return generate(self.netG, self.netE, semantics, real)


class Pix2PixTrainer:
    """Owns the networks (``nets``: plain, for EMA, evaluation and saving), their wrapped
    versions for the steps (``g_step_module``, ``d_step_module``: DDP and/or compiled;
    ``perceptual_step``: the perceptual loss, in DDP when it runs trained heads), the
    objective, the optimisers, the loss scalers and the EMA."""

    def __init__(self, opt: argparse.Namespace, ctx: Context) -> None:
        self.opt, self.ctx = opt, ctx
        self.nets = Pix2PixNetworks(opt, training=True, verbose=ctx.is_main)
        if ctx.distributed and ctx.device.type == 'cuda':  # SPADE's synchronised BatchNorm
            self.nets.netG = nn.SyncBatchNorm.convert_sync_batchnorm(self.nets.netG)
        self.objective = Objective(opt, heads=self.nets.heads)
        self.precision = Precision.of(opt)
        for module in (self.nets, self.objective):  # the objective holds the perceptual loss's VGG19
            self.precision.prepare_module(module.to(ctx.device))
        self.encode = InputEncoder(opt, ctx.device)
        self.generator_side = GeneratorSide(self.nets)
        self.g_step_module = self._wrap(self.generator_side)
        self.d_step_module = self._wrap(self.nets.netD)
        # not compiled: the loss runs eagerly, as without heads
        self.perceptual_step = (self._distribute(self.objective.perceptual) if self.nets.heads is not None
                                else self.objective.perceptual)
        self.optimizer_G, self.optimizer_D = self.create_optimizers(opt)
        scaling = self.precision.scales_losses
        self.scaler_G = torch.amp.GradScaler(ctx.device.type, enabled=scaling)
        self.scaler_D = torch.amp.GradScaler(ctx.device.type, enabled=scaling)
        self.ema = GeneratorEMA(self.nets.netG, opt.ema_decay, opt.ema_start) if opt.ema else None
        self.generated: Optional[torch.Tensor] = None
        self.losses: dict = {}

    def _distribute(self, module: nn.Module) -> nn.Module:
        if not self.ctx.distributed:
            return module
        ids = [self.ctx.device.index] if self.ctx.device.type == 'cuda' else None
        return DDP(module, device_ids=ids)

    def _wrap(self, module: nn.Module) -> nn.Module:
        module = self._distribute(module)
        return torch.compile(module) if self.opt.compile else module

    def create_optimizers(self, opt: argparse.Namespace):
        g_params = [p for net in self.nets.trained_with_generator() for p in net.parameters() if p.requires_grad]
        g_lr, d_lr = self.learning_rates(opt.lr)
        fused = self.ctx.device.type == 'cuda'  # one kernel per step on GPU; the CPU keeps the reference path
        optimizer_G = torch.optim.Adam(g_params, lr=g_lr, betas=(opt.beta1, opt.beta2), fused=fused)
        optimizer_D = torch.optim.Adam(self.nets.netD.parameters(), lr=d_lr, betas=(opt.beta1, opt.beta2),
                                       fused=fused)
        return optimizer_G, optimizer_D

    def learning_rates(self, lr: float) -> tuple[float, float]:
        """TTUR (G at half, D at twice the rate) unless ``--no_TTUR``."""
        return (lr, lr) if self.opt.no_TTUR else (lr / 2, lr * 2)

    def autocast(self):
        return self.precision.autocast(self.ctx.device)

    # ------------------------------------------------------------------ steps
    def run_generator_one_step(self, semantics: torch.Tensor, real: torch.Tensor, iteration: int) -> dict:
        netD = self.nets.netD  # unwrapped: D is frozen here, its gradients are neither needed nor synced
        netD.requires_grad_(False)
        try:
            with self.autocast():
                fake, mu, logvar = self.g_step_module(semantics, real)
                losses = self.objective.generator_losses(netD, semantics, fake, real, mu, logvar,
                                                         perceptual=self.perceptual_step)
            self._step(losses, self.optimizer_G, self.scaler_G)
        finally:
            netD.requires_grad_(True)
        if self.ema is not None:
            self.ema.update(self.nets.netG, iteration)
        self.generated = fake.detach()
        self.losses.update(losses)
        return losses

    def run_discriminator_one_step(self, semantics: torch.Tensor, real: torch.Tensor) -> dict:
        if self.generated is None or self.opt.recompute_fake_for_D:
            with torch.no_grad(), self.autocast():
                self.generated = self.g_step_module(semantics, real)[0].detach()
        with self.autocast():
            losses = self.objective.discriminator_losses(self.d_step_module, semantics, self.generated, real)
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
        return learning_rate(self.opt.lr, epoch, self.opt.niter, self.opt.niter_decay)

    def update_learning_rate(self, epoch: int) -> tuple[float, float]:
        g_lr, d_lr = self.learning_rates(self.lr_for_epoch(epoch))
        for group in self.optimizer_G.param_groups:
            group['lr'] = g_lr
        for group in self.optimizer_D.param_groups:
            group['lr'] = d_lr
        return g_lr, d_lr

    # ------------------------------------------------------------------ state
    def saved_networks(self) -> dict[str, nn.Module]:
        """The plain networks a snapshot holds, by SPADE file label."""
        nets = self.nets.by_label()
        if self.ema is not None:
            nets['G_ema'] = self.ema.shadow
        return nets

    def network_states(self) -> dict:
        """CPU state dicts of every network file of a snapshot, by SPADE label."""
        return {label: cpu_state_dict(net) for label, net in self.saved_networks().items()}

    def load_network_states(self, states: dict, source: str) -> None:
        """Loads the given files' states strictly; without an EMA file the EMA starts from G."""
        for label, net in self.saved_networks().items():
            if label in states:
                load_state(net, states[label], f'{source} (net_{label})', label)
        if self.ema is not None and 'G_ema' not in states:
            self.ema.shadow.load_state_dict(self.nets.netG.state_dict())

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
        return any(isinstance(m, nn.SyncBatchNorm) for m in self.nets.netG.modules())

    def inference_generator(self) -> nn.Module:
        """The generator evaluation and image logging should use: the EMA copy when on."""
        return self.ema.shadow if self.ema is not None else self.nets.netG
