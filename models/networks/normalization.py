"""Normalisation layers: SPADE (spatially-adaptive) and the plain ones used by D and E.

Module names and parameter layout follow NVlabs/SPADE exactly, so its checkpoints load with
``strict=True``. SPADE's synchronised batch norm is a plain ``nn.BatchNorm2d`` here (same
state-dict keys); the trainer converts it to ``nn.SyncBatchNorm`` when several CUDA processes
train together. Two SPADE defects are fixed: a non-spectral ``norm_D/E`` such as ``instance``
crashed, and ``spadebatch`` referred to an undefined class.
"""
import re
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import spectral_norm

SPADE_CONFIG = re.compile(r'^spade(instance|batch|syncbatch)(\d+)x\d+$')
SPADE_HIDDEN = 128  # width of SPADE's shared MLP: fixed in SPADE, --spade_hidden here; part of the checkpoint


def param_free_norm(kind: str, channels: int) -> nn.Module:
    if kind == 'instance':
        return nn.InstanceNorm2d(channels, affine=False)
    if kind in ('batch', 'syncbatch', 'sync_batch'):
        return nn.BatchNorm2d(channels, affine=False)
    raise ValueError(f'{kind} is not a recognized param-free norm type in SPADE')


def get_nonspade_norm_layer(opt, norm_type: str = 'instance') -> Callable[[nn.Module], nn.Module]:
    """Returns a function wrapping a conv layer as ``norm_type`` asks, e.g.
    ``spectralinstance`` -> Sequential(spectral_norm(conv), InstanceNorm2d)."""
    spectral = norm_type.startswith('spectral')
    subnorm = norm_type[len('spectral'):] if spectral else norm_type

    def add_norm_layer(layer: nn.Module) -> nn.Module:
        if spectral:
            layer = spectral_norm(layer)
        if subnorm in ('', 'none'):
            return layer
        # the bias is meaningless before a normalisation that subtracts the mean
        if getattr(layer, 'bias', None) is not None:
            delattr(layer, 'bias')
            layer.register_parameter('bias', None)
        channels = layer.out_channels
        if subnorm in ('batch', 'sync_batch', 'syncbatch'):
            norm = nn.BatchNorm2d(channels, affine=True)
        elif subnorm == 'instance':
            norm = nn.InstanceNorm2d(channels, affine=False)
        else:
            raise ValueError(f'normalization layer {subnorm} is not recognized')
        return nn.Sequential(layer, norm)

    return add_norm_layer


class SPADE(nn.Module):
    """Parameter-free normalisation followed by a per-pixel scale and bias predicted from the
    segmentation map: ``norm(x) * (1 + gamma(seg)) + beta(seg)``.

    ``config_text`` is ``spade<norm><k>x<k>``, e.g. ``spadesyncbatch3x3``; ``hidden``: the
    width of the shared layer between the map and gamma / beta (``--spade_hidden``), which
    dominates the generator's cost at small ``--ngf``.
    """

    def __init__(self, config_text: str, norm_nc: int, label_nc: int, hidden: int = SPADE_HIDDEN) -> None:
        super().__init__()
        parsed = SPADE_CONFIG.match(config_text)
        if parsed is None:
            raise ValueError(f'{config_text} is not a SPADE norm configuration such as spadebatch3x3')
        ks = int(parsed.group(2))
        pw = ks // 2
        self.param_free_norm = param_free_norm(parsed.group(1), norm_nc)
        self.mlp_shared = nn.Sequential(nn.Conv2d(label_nc, hidden, kernel_size=ks, padding=pw), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(hidden, norm_nc, kernel_size=ks, padding=pw)
        self.mlp_beta = nn.Conv2d(hidden, norm_nc, kernel_size=ks, padding=pw)

    def forward(self, x: torch.Tensor, segmap: torch.Tensor) -> torch.Tensor:
        normalized = self.param_free_norm(x)
        if segmap.shape[2:] != x.shape[2:]:
            segmap = F.interpolate(segmap, size=x.shape[2:], mode='nearest')
        actv = self.mlp_shared(segmap)
        return normalized * (1 + self.mlp_gamma(actv)) + self.mlp_beta(actv)
