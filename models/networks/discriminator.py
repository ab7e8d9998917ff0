"""SPADE's discriminators: an n-layer PatchGAN and several of them at decreasing scales."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from models.networks.base_network import BaseNetwork
from models.networks.normalization import get_nonspade_norm_layer


class NLayerDiscriminator(BaseNetwork):
    """PatchGAN returning every intermediate activation (for feature matching), the last being
    the real/fake prediction map; stored as ``model0 .. model<n>`` as in SPADE."""

    @staticmethod
    def modify_commandline_options(parser, is_train):
        parser.add_argument('--n_layers_D', type=int, default=4, help='# layers in each discriminator')
        return parser

    def __init__(self, opt) -> None:
        super().__init__()
        self.opt = opt
        kw, padw = 4, 2
        nf = opt.ndf
        norm_layer = get_nonspade_norm_layer(opt, opt.norm_D)
        sequence = [[nn.Conv2d(self.compute_D_input_nc(opt), nf, kernel_size=kw, stride=2, padding=padw),
                     nn.LeakyReLU(0.2, False)]]
        for n in range(1, opt.n_layers_D):
            nf_prev, nf = nf, min(nf * 2, 512)
            stride = 1 if n == opt.n_layers_D - 1 else 2
            sequence += [[norm_layer(nn.Conv2d(nf_prev, nf, kernel_size=kw, stride=stride, padding=padw)),
                          nn.LeakyReLU(0.2, False)]]
        sequence += [[nn.Conv2d(nf, 1, kernel_size=kw, stride=1, padding=padw)]]
        for n, layers in enumerate(sequence):
            self.add_module(f'model{n}', nn.Sequential(*layers))

    @staticmethod
    def compute_D_input_nc(opt) -> int:
        return opt.semantic_nc + opt.output_nc

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for submodel in self.children():
            x = submodel(x)
            features.append(x)
        return features


class MultiscaleDiscriminator(BaseNetwork):
    """``num_D`` n-layer discriminators, each seeing the input at half the previous scale.
    Returns one list of features per discriminator (SPADE's list of lists)."""

    @staticmethod
    def modify_commandline_options(parser, is_train):
        parser.add_argument('--num_D', type=int, default=2, help='number of discriminators to be used in multiscale')
        NLayerDiscriminator.modify_commandline_options(parser, is_train)
        return parser

    def __init__(self, opt) -> None:
        super().__init__()
        for i in range(opt.num_D):
            self.add_module(f'discriminator_{i}', NLayerDiscriminator(opt))

    @staticmethod
    def downsample(x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, kernel_size=3, stride=2, padding=[1, 1], count_include_pad=False)

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        result = []
        for i, discriminator in enumerate(self.children()):
            if i > 0:
                x = self.downsample(x)
            result.append(discriminator(x))
        return result
