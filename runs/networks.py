"""One network file, in SPADE's format: a plain state dict, written atomically, read with
``weights_only=True`` and loaded strictly. A file that does not fit the network built from the
options raises :class:`CheckpointError` naming the file, the keys that differ and the option
that probably differs (``--ngf``, ``--label_nc``, ``--norm_G``, ``--spade_hidden``, ``--num_D`` ...).

:func:`load_inference_generator` is the one place that loads the generator inference runs (the
EMA copy or the raw one, as :func:`runs.layout.inference_generator_label` chooses): test.py,
evaluate.py, the painter and the study (through :class:`models.pix2pix_model.Pix2PixModel`) and
export.py all go through it.
"""
import argparse
import os
import re
from typing import Callable, Optional

import torch
import torch.nn as nn

from runs import layout
from util.errors import CheckpointError
from util.fileio import atomic_torch_save
from util.state_dict import compare, read_state_dict, strip_module_prefix


def cpu_state_dict(net: nn.Module) -> dict:
    """A detached CPU copy of ``net``'s state (of the module inside a DDP wrapper)."""
    net = getattr(net, 'module', net)
    return {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}


def save(net: nn.Module, path: str) -> None:
    atomic_torch_save(cpu_state_dict(net), path)


def load(net: nn.Module, path: str, label: str) -> nn.Module:
    """Loads the file ``path`` into ``net`` (SPADE label ``G``, ``D``, ``E``...), strictly."""
    if not os.path.exists(path):
        raise CheckpointError(f'no checkpoint for net_{label} at {path}: check --name, --checkpoints_dir '
                              'and --which_epoch')
    load_state(net, read_state_dict(path, f'net_{label}'), path, label)
    return net


def load_inference_generator(netG: nn.Module, opt: argparse.Namespace, tag,
                             log: Callable[[str], None] = print) -> tuple[str, str]:
    """Loads into ``netG`` the generator inference runs for epoch ``tag``: the EMA copy when
    training saved one (said with ``log``, as the user may expect the raw one), unless ``--no_ema``.
    Returns (its label ``G`` or ``G_ema``, its file)."""
    label = layout.inference_generator_label(opt, tag)
    path = layout.network_file(layout.run_dir(opt), tag, label)
    if label == 'G_ema':
        log(f'using the EMA generator {path} (--no_ema for the raw one)')
    load(netG, path, label)
    return label, path


def load_state(net: nn.Module, state: dict, source: str, label: str) -> None:
    """Loads an already read state dict strictly; ``source`` names it in errors."""
    state = strip_module_prefix(state)
    problem = describe_mismatch(net.state_dict(), state, label[0])
    if problem:
        raise CheckpointError(f'{source} does not fit the network built from these options: {problem}')
    net.load_state_dict(state, strict=True)


def describe_mismatch(expected: dict, found: dict, label: str = 'G') -> Optional[str]:
    """None when ``found`` fits ``expected`` exactly; otherwise a one-line explanation ending
    with the option that probably differs."""
    mismatch = compare(expected, found)
    if not mismatch:
        return None
    if mismatch.missing or mismatch.unexpected:
        hint = _guess_from_keys(mismatch.missing + mismatch.unexpected, label, set(expected), set(found))
    else:
        input_channels_only = [k for k, v in expected.items() if k in found and _only_dim1_differs(found[k], v)]
        widths = [k for k, _, _ in mismatch.reshaped if k not in input_channels_only]
        hint = _guess_from_shapes(widths or input_channels_only, label, bool(widths))
    return mismatch.describe() + (f'. Probably {hint} differs from the run that wrote it' if hint else '')


def _only_dim1_differs(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.dim() == b.dim() >= 2 and a.shape[1] != b.shape[1] and a.shape[0] == b.shape[0] \
        and a.shape[2:] == b.shape[2:]


def _guess_from_keys(key_diffs: list[str], label: str, expected: set, found: set) -> str:
    """The option most likely responsible for keys present on one side only."""
    names = {k.rsplit('.', 1)[-1] for k in key_diffs}
    modules = ' '.join(k.rsplit('.', 1)[0] for k in key_diffs)
    if 'up_4' in modules:
        return '--num_upsampling_layers'
    if label == 'D':
        hint = _guess_discriminator(expected, found)
        if hint:
            return hint
    if 'layer6' in modules:
        return '--crop_size (the encoder has six layers from 256 up)'
    if names & {'running_mean', 'running_var', 'num_batches_tracked'}:
        return f'--norm_{label} (batch vs instance normalisation)'
    if names & {'weight_orig', 'weight_u', 'weight_v'}:
        return f'--norm_{label} (spectral normalisation on or off)'
    if all(k.startswith('model.') for k in key_diffs):
        return '--netG, --resnet_n_blocks or --resnet_n_downsample'
    return '--netG / --netD or the network architecture'


def _guess_discriminator(expected: set, found: set) -> Optional[str]:
    """Compares the numbered blocks of the two discriminators: a multiscale D holds
    ``discriminator_<i>`` sub-networks, each (and an n_layer D itself) ``model<j>`` layers."""
    scales = _blocks(expected, r'^discriminator_\d+'), _blocks(found, r'^discriminator_\d+')
    if bool(scales[0]) != bool(scales[1]):
        return '--netD (multiscale vs n_layer)'
    if scales[0] != scales[1]:
        return '--num_D'
    if _blocks(expected, r'model\d+') != _blocks(found, r'model\d+'):
        return '--n_layers_D'
    return None


def _blocks(keys: set, pattern: str) -> set:
    return {m.group(0) for k in keys for m in [re.search(pattern, k)] if m}


def _guess_from_shapes(shape_diffs: list[str], label: str, widths: bool) -> Optional[str]:
    if not widths:  # only the number of input channels differs
        return '--label_nc, --contain_dontcare_label or --no_instance (the number of input channels)'
    if any(k.startswith('fc_') for k in shape_diffs):
        return '--z_dim or --nef'
    if set(shape_diffs) <= {'fc.weight', 'fc.bias'}:
        return '--use_vae, --crop_size or --aspect_ratio (the size of the starting map)'
    if label == 'G' and all('.mlp_shared.' in k for k in shape_diffs):  # only SPADE's hidden layer is wider
        return '--spade_hidden'
    return {'G': '--ngf', 'D': '--ndf', 'E': '--nef or --ngf'}.get(label)
