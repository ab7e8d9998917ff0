"""Network checkpoints in SPADE's layout: ``<checkpoints_dir>/<name>/<epoch>_net_<label>.pth``.

Files hold a plain state dict (as SPADE's do), are written atomically and read with
``weights_only=True``. A missing, truncated or mismatched file raises :class:`CheckpointError`
naming the file and, for a mismatch, the keys that differ and the option that probably does.
"""
import os
import pickle
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
    hint = guess_option(missing + unexpected, [s.split(' ')[0] for s in shapes], label)
    return '; '.join(parts) + (f'. Probably {hint} differs from the run that wrote it' if hint else '')


def guess_option(key_diffs: list[str], shape_diffs: list[str], label: str) -> Optional[str]:
    """The option most likely responsible for a mismatch, from the names of differing keys."""
    keys = ' '.join(key_diffs)
    if 'running_mean' in keys or 'num_batches_tracked' in keys:
        return f'--norm_{label} (batch vs instance normalisation)'
    if 'weight_orig' in keys or 'weight_u' in keys:
        return f'--norm_{label} (spectral normalisation on or off)'
    if 'up_4' in keys:
        return '--num_upsampling_layers'
    if 'discriminator_' in keys and label == 'D':
        return '--num_D'
    if 'model' in keys and label == 'D':
        return '--n_layers_D'
    if 'layer6' in keys:
        return '--crop_size (the encoder has six layers from 256 up)'
    if key_diffs and all(k.startswith('model.') for k in key_diffs):
        return '--netG or --resnet_n_blocks/--resnet_n_downsample'
    if key_diffs:
        return '--netG / --netD or the network architecture'
    return _guess_from_shapes(shape_diffs, label)


def _guess_from_shapes(shape_diffs: list[str], label: str) -> Optional[str]:
    input_layers = ('mlp_shared.0.weight', 'model0.0.weight', 'model0.0.weight_orig', 'model.1.weight',
                    'model.1.weight_orig', 'model.1.0.weight', 'model.1.0.weight_orig')
    if any(k.endswith(input_layers) for k in shape_diffs):
        return '--label_nc, --contain_dontcare_label or --no_instance (the number of input channels)'
    if any(k.startswith('fc_') for k in shape_diffs):
        return '--z_dim or --nef'
    if 'fc.weight' in shape_diffs or 'fc.bias' in shape_diffs:
        return '--use_vae, --crop_size or --aspect_ratio (the size of the starting map)'
    return {'G': '--ngf', 'D': '--ndf', 'E': '--nef or --ngf'}.get(label)


def _first(items: list[str]) -> str:
    shown = ', '.join(items[:SHOW])
    return shown + (f' (and {len(items) - SHOW} more)' if len(items) > SHOW else '')


def _strip_module(key: str) -> str:
    # checkpoints saved from a DataParallel/DDP wrapper carry a 'module.' prefix
    return key[len('module.'):] if key.startswith('module.') else key
