"""A frozen VGG19 (torchvision's architecture) that returns the activations of named layers.

Layer names follow the usual convention: ``conv{block}_{i}`` and ``relu{block}_{i}`` for the
16 convolutions of the five blocks, ``pool{block}`` for the max-pools. Only layers up to the
deepest requested tap are built and run.

Weights (``--vgg_weights``):
- ``imagenet``: torchvision's ImageNet VGG19 (``VGG19_Weights.IMAGENET1K_V1``), taken from the
  torch hub cache (``torch.hub.get_dir()/checkpoints/vgg19-dcbb9e9d.pth``) or downloaded there.
  torchvision does not check a cached file, so its SHA-256 is checked here every time.
- a path to a ``.pth`` state dict of torchvision's ``vgg19`` (or of its ``features``); a
  torchvision-style name ``<name>-<hex>.pth`` is checked against the hash prefix it carries.
- ``random``: untrained weights, for tests and the offline demo only (a warning says so).
"""
import os
import re
import warnings
from typing import Optional, Sequence

import torch
import torch.nn as nn
import torchvision

from util.errors import CheckpointError, OptionError
from util.fileio import sha256_file
from util.imagenet import IMAGENET_MEAN, IMAGENET_STD
from util.state_dict import compare, read_state_dict

BLOCK_CONVS = (2, 2, 4, 4, 4)
WEIGHT_CHOICES_HELP = "'imagenet' (torchvision's, from the torch hub cache or downloaded), a .pth path, or 'random'"
_HASHED_NAME = re.compile(r'-([0-9a-f]{8,64})\.pth$')


def _layer_names() -> tuple[str, ...]:
    # the order of torchvision's vgg19().features, one name per module
    names = []
    for block, convs in enumerate(BLOCK_CONVS, start=1):
        for i in range(1, convs + 1):
            names += [f'conv{block}_{i}', f'relu{block}_{i}']
        names.append(f'pool{block}')
    return tuple(names)


LAYER_NAMES = _layer_names()
RELU_LAYERS = tuple(name for name in LAYER_NAMES if name.startswith('relu'))


def layer_channels(name: str) -> int:
    """Channels of a VGG19 layer's output, e.g. 64 for relu1_2, 512 for relu5_2."""
    block = int(name[4] if name.startswith('pool') else name.split('_')[0][-1])
    return min(64 * 2 ** (block - 1), 512)


def check_layer_names(layers: Sequence[str], option: str = '--vgg_layers') -> None:
    if not layers:
        raise OptionError(f'{option} must name at least one layer, e.g. relu1_2,relu2_2')
    unknown = [name for name in layers if name not in LAYER_NAMES]
    if unknown:
        raise OptionError(f"{option}: unknown VGG19 layer(s) {','.join(unknown)}; "
                          f"expected names like {','.join(RELU_LAYERS[:3])},...,relu5_4")
    if len(set(layers)) != len(layers):
        raise OptionError(f'{option} names a layer twice: {",".join(layers)}')


class VGG19Features(nn.Module):
    """Frozen VGG19 trunk; ``forward(x)`` returns ``{layer name: activation}`` in tap order.

    ``x`` is an image batch in [-1, 1]. By default it is fed as is, as SPADE does; with
    ``normalize=True`` it is mapped to [0, 1] and standardised with ImageNet's mean and std.
    """

    def __init__(self, layers: Sequence[str], weights: str = 'imagenet', normalize: bool = False) -> None:
        super().__init__()
        check_layer_names(layers)
        self.layers = tuple(layers)
        self.normalize = normalize
        self._index = {name: LAYER_NAMES.index(name) for name in self.layers}
        depth = max(self._index.values()) + 1
        self.features = build_trunk(depth)
        state = load_vgg19_features_state(weights)
        if state is not None:
            _load_trunk(self.features, state, weights)
        self.register_buffer('mean', torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer('std', torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> 'VGG19Features':
        return super().train(False)  # never trained: stays in eval mode

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.normalize:
            x = ((x + 1) / 2 - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        wanted = {index: name for name, index in self._index.items()}
        taps = {}
        for index, module in enumerate(self.features):
            x = module(x)
            if index in wanted:
                # the ReLU after a convolution works in place: a tapped conv output needs a copy
                taps[wanted[index]] = x.clone() if wanted[index].startswith('conv') else x
        return {name: taps[name] for name in self.layers}


def build_trunk(depth: int) -> nn.Sequential:
    """The first ``depth`` modules of torchvision's ``vgg19().features``, initialised as
    torchvision does (its module indices, so its state dict keys, are the same)."""
    modules: list[nn.Module] = []
    channels = 3
    for name in LAYER_NAMES[:depth]:
        if name.startswith('conv'):
            conv = nn.Conv2d(channels, layer_channels(name), kernel_size=3, padding=1)
            nn.init.kaiming_normal_(conv.weight, mode='fan_out', nonlinearity='relu')
            nn.init.zeros_(conv.bias)
            modules.append(conv)
            channels = layer_channels(name)
        elif name.startswith('relu'):
            modules.append(nn.ReLU(inplace=True))
        else:
            modules.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return nn.Sequential(*modules)


# ---------------------------------------------------------------------------- weights
def torchvision_weights_file() -> tuple[str, str]:
    """(url, cache path) of torchvision's ImageNet VGG19 file."""
    url = torchvision.models.VGG19_Weights.IMAGENET1K_V1.url
    return url, os.path.join(torch.hub.get_dir(), 'checkpoints', os.path.basename(url))


def load_vgg19_features_state(spec: str) -> Optional[dict[str, torch.Tensor]]:
    """State dict of VGG19's ``features`` (keys ``'0.weight'``...) for ``--vgg_weights spec``;
    ``None`` for ``random``. Raises :class:`CheckpointError` naming the file and the option."""
    if spec == 'random':
        warnings.warn('--vgg_weights random: the perceptual loss uses an UNTRAINED VGG19; '
                      'use this for tests and the offline demo only', stacklevel=2)
        return None
    path = _imagenet_file() if spec == 'imagenet' else spec
    if not os.path.isfile(path):
        raise CheckpointError(f"--vgg_weights: file '{path}' not found; give a VGG19 state dict, "
                              f"or one of {WEIGHT_CHOICES_HELP}")
    verify_hash(path)
    return _features_part(read_state_dict(path, '--vgg_weights file'), path)


def _imagenet_file() -> str:
    url, path = torchvision_weights_file()
    if os.path.isfile(path):
        return path
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        torch.hub.download_url_to_file(url, path, hash_prefix=_expected_prefix(path), progress=True)
    except Exception as exc:  # no network, proxy refusal, disk full, hash mismatch...
        raise CheckpointError(
            f"--vgg_weights imagenet: torchvision's VGG19 weights '{os.path.basename(path)}' are not in the "
            f"torch hub cache ({os.path.dirname(path)}) and could not be downloaded from {url} ({exc}); "
            f"copy the file there, or pass --vgg_weights PATH (or --vgg_weights random for a test run)")
    return path


def _expected_prefix(path: str) -> Optional[str]:
    match = _HASHED_NAME.search(os.path.basename(path))
    return match.group(1) if match else None


def verify_hash(path: str) -> None:
    """Check a torchvision-style ``<name>-<hex>.pth`` file against its hash prefix."""
    prefix = _expected_prefix(path)
    if prefix is None:
        return
    digest = sha256_file(path)
    if not digest.startswith(prefix):
        raise CheckpointError(
            f"--vgg_weights: '{path}' is corrupt or not the expected file: its SHA-256 starts with "
            f"{digest[:len(prefix)]}, not {prefix}; delete it and download it again "
            f"({torchvision_weights_file()[0]})")


def _features_part(state: dict, path: str) -> dict[str, torch.Tensor]:
    # accepts a whole torchvision vgg19 state dict or only its features
    if any(key.startswith('features.') for key in state):
        return {key[len('features.'):]: value for key, value in state.items() if key.startswith('features.')}
    return dict(state)


def _load_trunk(trunk: nn.Sequential, state: dict[str, torch.Tensor], spec: str) -> None:
    expected = trunk.state_dict()
    mismatch = compare(expected, state, extra_allowed=True)  # deeper layers than the taps need are unused
    if mismatch:
        raise CheckpointError(f"--vgg_weights: '{spec}' is not a torchvision VGG19 state dict ({mismatch.describe()})")
    trunk.load_state_dict({key: state[key] for key in expected})
