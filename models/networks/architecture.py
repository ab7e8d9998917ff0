"""Residual blocks: SPADE's (normalise, activate, convolve; learned shortcut) and pix2pixHD's."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import spectral_norm

from models.networks.normalization import SPADE


class SPADEResnetBlock(nn.Module):
    """Two SPADE-normalised 3x3 convolutions with a residual connection; the shortcut is
    learned (SPADE + 1x1 conv) when the channel count changes."""

    def __init__(self, fin: int, fout: int, opt) -> None:
        super().__init__()
        self.learned_shortcut = fin != fout
        fmiddle = min(fin, fout)
        self.conv_0 = nn.Conv2d(fin, fmiddle, kernel_size=3, padding=1)
        self.conv_1 = nn.Conv2d(fmiddle, fout, kernel_size=3, padding=1)
        if self.learned_shortcut:
            self.conv_s = nn.Conv2d(fin, fout, kernel_size=1, bias=False)
        if 'spectral' in opt.norm_G:
            self.conv_0 = spectral_norm(self.conv_0)
            self.conv_1 = spectral_norm(self.conv_1)
            if self.learned_shortcut:
                self.conv_s = spectral_norm(self.conv_s)
        spade_config = opt.norm_G.replace('spectral', '')
        hidden = opt.spade_hidden
        self.norm_0 = SPADE(spade_config, fin, opt.semantic_nc, hidden)
        self.norm_1 = SPADE(spade_config, fmiddle, opt.semantic_nc, hidden)
        if self.learned_shortcut:
            self.norm_s = SPADE(spade_config, fin, opt.semantic_nc, hidden)

    def forward(self, x: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        if seg.shape[2:] != x.shape[2:]:  # resize once for the block's two or three SPADE layers
            seg = F.interpolate(seg, size=x.shape[2:], mode='nearest')
        x_s = self.conv_s(self.norm_s(x, seg)) if self.learned_shortcut else x
        dx = self.conv_0(self.actvn(self.norm_0(x, seg)))
        dx = self.conv_1(self.actvn(self.norm_1(dx, seg)))
        return x_s + dx

    @staticmethod
    def actvn(x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x, 2e-1)


class ResnetBlock(nn.Module):
    """pix2pixHD's residual block: reflection pad, norm(conv), activation, twice."""

    def __init__(self, dim: int, norm_layer, activation: nn.Module = nn.ReLU(False), kernel_size: int = 3) -> None:
        super().__init__()
        pw = (kernel_size - 1) // 2
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(pw),
            norm_layer(nn.Conv2d(dim, dim, kernel_size=kernel_size)),
            activation,
            nn.ReflectionPad2d(pw),
            norm_layer(nn.Conv2d(dim, dim, kernel_size=kernel_size)),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)
