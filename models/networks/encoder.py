"""SPADE's VAE image encoder: strided convolutions to a 4x4 map, then mu and log-variance.

SPADE's own encoder has three defects, fixed here while official checkpoints (crop >= 256,
``--nef`` unset, ``--z_dim 256``) still load: it ignores ``--nef`` (uses ``--ngf``: kept as
the default), hard-codes a 256-d latent instead of ``--z_dim``, and crashes for crops below
256 (it resizes to 256 but drops a layer). Here the input is resized to 256 (six layers) for
crops of 256 and above, as SPADE does, and to 128 (five layers) below.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from models.networks.base_network import BaseNetwork
from models.networks.normalization import get_nonspade_norm_layer

LATENT_MAP = 4  # spatial size of the last feature map


class ConvEncoder(BaseNetwork):
    def __init__(self, opt) -> None:
        super().__init__()
        ndf = opt.nef if opt.nef is not None else opt.ngf
        norm_layer = get_nonspade_norm_layer(opt, opt.norm_E)
        self.deep = opt.crop_size >= 256
        self.input_size = 256 if self.deep else 128
        channels = [3, ndf, ndf * 2, ndf * 4, ndf * 8, ndf * 8] + ([ndf * 8] if self.deep else [])
        for i in range(len(channels) - 1):
            conv = nn.Conv2d(channels[i], channels[i + 1], 3, stride=2, padding=1)
            self.add_module(f'layer{i + 1}', norm_layer(conv))
        self.fc_mu = nn.Linear(ndf * 8 * LATENT_MAP * LATENT_MAP, opt.z_dim)
        self.fc_var = nn.Linear(ndf * 8 * LATENT_MAP * LATENT_MAP, opt.z_dim)
        self.actvn = nn.LeakyReLU(0.2, False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.shape[2:] != (self.input_size, self.input_size):
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode='bilinear')
        layers = [module for name, module in self.named_children() if name.startswith('layer')]
        x = layers[0](x)
        for layer in layers[1:]:
            x = layer(self.actvn(x))
        x = self.actvn(x).flatten(1)
        return self.fc_mu(x), self.fc_var(x)
