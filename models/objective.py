"""SPADE's objective: the generator's and the discriminator's loss terms.

The functions take the networks they are to use as arguments, plain or wrapped (DDP,
``torch.compile``): the trainer decides which. Every term is a float32 scalar, weighted as
SPADE weighs it (``--lambda_feat``, ``--lambda_vgg``, ``--lambda_kld``).
"""
import argparse
from typing import Optional

import torch
import torch.nn as nn

import models.networks as networks


def generate(netG: nn.Module, netE: Optional[nn.Module], semantics: torch.Tensor,
             real: torch.Tensor) -> tuple[torch.Tensor, Optional[torch.Tensor], Optional[torch.Tensor]]:
    """(fake image, mu, logvar): with an encoder (``--use_vae``) the style code comes from the
    real image; without one mu and logvar are None."""
    z = mu = logvar = None
    if netE is not None:
        mu, logvar = netE(real)
        z = torch.randn_like(mu) * torch.exp(0.5 * logvar) + mu
    return netG(semantics, z=z), mu, logvar


def discriminate(netD: nn.Module, semantics: torch.Tensor, fake: torch.Tensor,
                 real: torch.Tensor) -> tuple[list, list]:
    """D's outputs (per scale, a list of features ending with the prediction) for the fakes
    and the reals; both halves go through D as one batch, so its normalisation sees one set
    of statistics, as in SPADE."""
    fake_and_real = torch.cat([torch.cat([semantics, fake.to(semantics.dtype)], dim=1),
                               torch.cat([semantics, real], dim=1)], dim=0)
    output = netD(fake_and_real)
    if torch.is_tensor(output[0]):  # a single n_layer discriminator
        output = [output]
    half = semantics.size(0)
    return ([[t[:half] for t in feats] for feats in output],
            [[t[half:] for t in feats] for feats in output])


class Objective(nn.Module):
    """The loss modules, built from the options. ``heads`` are the contrastive MLP heads of the
    run (:class:`models.pix2pix_networks.Pix2PixNetworks` builds and saves them); the perceptual
    loss holds them and runs them in its forward."""

    def __init__(self, opt: argparse.Namespace, heads: Optional[nn.ModuleDict] = None) -> None:
        super().__init__()
        self.opt = opt
        self.gan = networks.GANLoss(opt.gan_mode)
        self.kld = networks.KLDLoss()
        self.perceptual = None
        if not opt.no_vgg_loss:
            from models.networks.perceptual import PerceptualLoss  # builds a VGG19: only when used
            self.perceptual = PerceptualLoss(opt, heads=heads)

    def generator_losses(self, netD: nn.Module, semantics: torch.Tensor, fake: torch.Tensor, real: torch.Tensor,
                         mu: Optional[torch.Tensor] = None, logvar: Optional[torch.Tensor] = None,
                         perceptual: Optional[nn.Module] = None) -> dict:
        """``perceptual``: the perceptual loss to call, this objective's own (the default) or a
        wrapper of it (the trainer's DDP wrapper, which syncs the heads' gradients)."""
        losses = {}
        if mu is not None:
            losses['KLD'] = self.kld(mu, logvar) * self.opt.lambda_kld
        pred_fake, pred_real = discriminate(netD, semantics, fake, real)
        losses['GAN'] = self.gan(pred_fake, True, for_discriminator=False)
        if not self.opt.no_ganFeat_loss:
            losses['GAN_Feat'] = self.feature_matching(pred_fake, pred_real)
        if self.perceptual is not None:
            perceptual = self.perceptual if perceptual is None else perceptual
            losses['VGG'] = perceptual(fake, real) * self.opt.lambda_vgg
        return losses

    def discriminator_losses(self, netD: nn.Module, semantics: torch.Tensor, fake: torch.Tensor,
                             real: torch.Tensor) -> dict:
        pred_fake, pred_real = discriminate(netD, semantics, fake.detach(), real)
        return {'D_Fake': self.gan(pred_fake, False, for_discriminator=True),
                'D_real': self.gan(pred_real, True, for_discriminator=True)}

    def feature_matching(self, pred_fake: list, pred_real: list) -> torch.Tensor:
        """L1 between D's intermediate features of fakes and reals, averaged over scales."""
        total = torch.zeros((), device=pred_fake[0][0].device)
        for fake_feats, real_feats in zip(pred_fake, pred_real):
            for fake, real in zip(fake_feats[:-1], real_feats[:-1]):  # the last one is the prediction
                total = total + nn.functional.l1_loss(fake.float(), real.detach().float())
        return total * self.opt.lambda_feat / len(pred_fake)

    def perceptual_stats(self) -> dict:
        """The perceptual loss's last per-layer values (tensors: reading them syncs the device)."""
        return self.perceptual.last_stats if self.perceptual is not None else {}
