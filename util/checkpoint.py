"""Network checkpoints in SPADE's layout: ``<checkpoints_dir>/<name>/<epoch>_net_<label>.pth``.

Files hold a plain state dict (as SPADE's do), are written atomically and read with
``weights_only=True``. A missing, truncated or mismatched file raises :class:`CheckpointError`
naming the file and, for a mismatch, the keys that differ and the option that probably does.
"""
import os
import pickle
import re
import zipfile
from typing import Optional

import torch
import torch.nn as nn

from util.errors import CheckpointError
from util.fileio import atomic_torch_save

SHOW = 5  # how many differing keys a message lists


def network_path(opt, label: str, epoch) -> str:
    return os.path.join(opt.checkpoints_dir, opt.name, f'{epoch}_net_{label}.pth')


def save_network(net: nn.Module, label: str, epoch, opt) -> str:
    path = network_path(opt, label, epoch)
    atomic_torch_save(cpu_state_dict(net), path)
    return path


def cpu_state_dict(net: nn.Module) -> dict:
    net = getattr(net, 'module', net)  # unwrap DistributedDataParallel
    return {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}


def read_state_dict(path: str, what: str = 'checkpoint') -> dict:
    """``torch.load(path, weights_only=True)`` with one clear error per way it can fail."""
    if not os.path.isfile(path):
        raise CheckpointError(f'{what} not found: {path}')
    try:
        state = torch.load(path, map_location='cpu', weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, OSError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f'{what} {path} is truncated, corrupt or not a PyTorch state dict ({reason})')
    if not isinstance(state, dict):
        raise CheckpointError(f'{what} {path} does not hold a state dict (found {type(state).__name__})')
    return state


def load_network(net: nn.Module, label: str, epoch, opt) -> nn.Module:
    path = network_path(opt, label, epoch)
    if not os.path.isfile(path):
        raise CheckpointError(f'no checkpoint for net_{label} at {path}: check --name, --checkpoints_dir '
                              f'and --which_epoch {epoch}')
    load_state_dict_strict(net, read_state_dict(path), path, label)
    return net


def load_state_dict_strict(net: nn.Module, state: dict, path: str, label: str = 'G') -> None:
    state = {_strip_module(k): v for k, v in state.items()}
    problem = describe_mismatch(net.state_dict(), state, label)
    if problem:
        raise CheckpointError(f'{path} does not fit the network built from these options: {problem}')
    net.load_state_dict(state, strict=True)


def describe_mismatch(expected: dict, found: dict, label: str = 'G') -> Optional[str]:
    """None when ``found`` fits ``expected`` exactly; otherwise a one-line explanation."""
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    shapes = [f'{k} {tuple(found[k].shape)} in file vs {tuple(v.shape)} here'
              for k, v in expected.items() if k in found and tuple(found[k].shape) != tuple(v.shape)]
    if not (missing or unexpected or shapes):
        return None
    parts = []
    if missing:
        parts.append(f'missing keys {_first(missing)}')
    if unexpected:
        parts.append(f'unexpected keys {_first(unexpected)}')
    if shapes:
        parts.append(f'shape differences {_first(shapes)}')
    input_channels_only = [k for k, v in expected.items() if k in found and _only_dim1_differs(found[k], v)]
    width_diffs = [s.split(' ')[0] for s in shapes if s.split(' ')[0] not in input_channels_only]
    if missing or unexpected:
        hint = _guess_from_keys(missing + unexpected, label, set(expected), set(found))
    else:
        hint = _guess_from_shapes(width_diffs or input_channels_only, label, bool(width_diffs))
    return '; '.join(parts) + (f'. Probably {hint} differs from the run that wrote it' if hint else '')


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
    return {'G': '--ngf', 'D': '--ndf', 'E': '--nef or --ngf'}.get(label)


def _first(items: list[str]) -> str:
    shown = ', '.join(items[:SHOW])
    return shown + (f' (and {len(items) - SHOW} more)' if len(items) > SHOW else '')


def _strip_module(key: str) -> str:
    # checkpoints saved from a DataParallel/DDP wrapper carry a 'module.' prefix
    return key[len('module.'):] if key.startswith('module.') else key
