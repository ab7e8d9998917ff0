"""The networks of a run, in one module: the generator; for training the discriminator and,
with ``--nce_mlp``, the contrastive MLP heads; with ``--use_vae`` the image encoder.

Each is saved as SPADE's ``<tag>_net_<label>.pth``; :meth:`Pix2PixNetworks.by_label` gives them
by that label. Wrapping them (DDP, ``torch.compile``) is the trainer's business; the heads run
in the perceptual loss (:class:`models.networks.perceptual.PerceptualLoss`), which holds them too.
"""
import argparse
from typing import Optional

import torch.nn as nn

import models.networks as networks
from models.networks.perceptual import contrastive_heads


class Pix2PixNetworks(nn.Module):
    def __init__(self, opt: argparse.Namespace, training: bool, verbose: bool = True) -> None:
        super().__init__()
        self.netG = networks.define_G(opt, verbose)
        self.netD: Optional[nn.Module] = networks.define_D(opt, verbose) if training else None
        self.netE: Optional[nn.Module] = networks.define_E(opt, verbose) if opt.use_vae else None
        self.heads: Optional[nn.ModuleDict] = contrastive_heads(opt) if training and not opt.no_vgg_loss else None

    def by_label(self) -> dict[str, nn.Module]:
        """The networks that exist, by their file label (G, D, E, heads)."""
        named = {'G': self.netG, 'D': self.netD, 'E': self.netE, 'heads': self.heads}
        return {label: net for label, net in named.items() if net is not None}

    def trained_with_generator(self) -> list[nn.Module]:
        """What the generator's optimiser trains: G, E, heads (the order of the parameters in
        its saved states)."""
        return [net for net in (self.netG, self.netE, self.heads) if net is not None]
