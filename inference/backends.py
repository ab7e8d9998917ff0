"""What runs the generator for test.py, the painter and ``evaluate.py model``: ``--backend``.

- ``torch``: the PyTorch networks, as always.
- ``onnxruntime``: the same networks exported to ONNX by :mod:`inference.export` (the generator,
  and the image encoder with ``--use_vae`` so that a style photo works), each checked against
  PyTorch on random inputs (max abs difference <= 1e-4) and run by onnxruntime on the CPU in
  float32. Everything around them is unchanged: the one-hot input encoding, the VAE's
  ``z = mu + eps * exp(logvar / 2)`` with eps from torch's random stream (so a seed gives the
  same z with both backends), the results, the page, the errors.
- ``auto`` (the default): onnxruntime on the CPU when onnx and onnxruntime are installed; torch
  on a CUDA GPU, with ``--amp`` or ``--channels_last`` (torch's alone: see
  :func:`options.test_options.torch_only`), without those packages, or when the export fails
  (said in one line). On the CPU onnxruntime ran SPADE's generator 1.57x faster than PyTorch at
  one thread (ngf 64, 92 M parameters: 2.02 s against 3.17 s per image, outputs 1.2e-7 apart):
  it fuses each convolution with its bias and activation and runs its own convolution kernels,
  where PyTorch's CPU path gains nothing from ``--channels_last`` or ``--amp`` on such CPUs. On
  CUDA torch (cuDNN, autocast) is the fast path, and this CPU-only onnxruntime package cannot
  run there.

The cache. The ONNX file of ``<epoch>_net_<G|G_ema|E>.pth`` is
``<checkpoints_dir>/<name>/onnx_cache/<epoch>_net_<label>.onnx`` (:func:`runs.layout.onnx_cache_file`),
written atomically (:mod:`util.fileio`). Its metadata holds a key: the SHA-256 of the weights the
process loaded (every tensor of the state dict), of the input and output shapes (``--crop_size``,
``--aspect_ratio``, the label channels) and of the cache format. A file whose key differs (a
retrained epoch, another crop size) or that onnxruntime cannot read (truncated,
corrupt) is exported again and replaced, so a stale file is never run. The first use costs an
export and a check (seconds for small generators, tens of seconds at the ADE20K size); later
ones hash the weights and load the file (a few seconds at the ADE20K size). A run folder that
cannot be written runs the exported model from memory, with a note.

Threads: the onnxruntime session takes ``torch.get_num_threads()`` intra-op threads
(:class:`inference.export.OnnxRunner`), which follows ``OMP_NUM_THREADS``: ``OMP_NUM_THREADS=1``
keeps a core free for other work, 2 uses both cores of a 2-core machine; a batch (``--batchSize``)
runs as one call over those threads.
"""
import argparse
import hashlib
import importlib.util
import json
import os
from typing import Callable, Optional

import torch
import torch.nn as nn

from inference.export import (ExportError, ExportableEncoder, ExportableGenerator, ModelSpec, OnnxRunner,
                              export_encoder, export_generator, first_line, random_inputs, random_photos, verify)
from models.pix2pix_model import Pix2PixModel
from options.test_options import torch_only
from runs import layout
from util.errors import UserError, user_message
from util.fileio import atomic_write_bytes

CACHE_FORMAT = 1  # raise when the exported graph changes for the same weights: every cached file is redone
CACHE_TOLERANCE = 1e-4  # export.py's default --tolerance
CHECK_BATCHES = (1,)  # traced at 2 (inference.export.TRACE_BATCH): batch 1 also proves the batch size free
PACKAGES = ('onnx', 'onnxruntime')
FALLBACK = 'run it with --backend torch'
Log = Callable[[str], None]


def choose_backend(opt: argparse.Namespace, log: Log = print) -> str:
    """``torch`` or ``onnxruntime`` for ``opt.backend``. An explicit ``onnxruntime`` with a
    torch-only option was refused by the option parser."""
    requested = opt.backend
    if requested == 'torch' or (requested == 'auto' and torch_only(opt)):
        return 'torch'
    missing = [name for name in PACKAGES if importlib.util.find_spec(name) is None]
    if missing and requested == 'onnxruntime':
        raise ExportError(f'--backend onnxruntime needs {" and ".join(missing)}: pip install onnx onnxruntime')
    if missing:
        log(f'--backend auto: running with torch ({" and ".join(missing)} not installed; '
            'pip install onnx onnxruntime for faster CPU inference)')
        return 'torch'
    return 'onnxruntime'


def backend_of(model: nn.Module) -> str:
    """The backend a model from :func:`inference_model` runs on."""
    return getattr(model, 'backend', 'torch')


def inference_model(model: nn.Module, opt: argparse.Namespace, log: Log = print) -> nn.Module:
    """``model`` (a :class:`Pix2PixModel` in eval mode) as ``opt.backend`` runs it: itself for
    torch, an :class:`OnnxModel` built from it for onnxruntime (``model`` is left unchanged).
    torch's random state is the same after as before, so that sampled styles are the same."""
    if isinstance(model, OnnxModel) or choose_backend(opt, log) == 'torch':
        return model
    try:
        with torch.random.fork_rng(devices=[]):
            return OnnxModel(model, opt, log)
    except UserError as exc:
        if opt.backend != 'auto':
            raise
        log(f'--backend auto: running with torch ({user_message(exc)})')
        return model


class OnnxModel(nn.Module):
    """:class:`Pix2PixModel` for inference with its networks run by onnxruntime: the same
    attributes (``opt``, ``device``, ``preprocess_input``, ``netG``, ``netE``) and the same call."""
    backend = 'onnxruntime'
    forward = Pix2PixModel.forward  # encode the batch, generate(netG, netE, ...): SPADE's call

    def __init__(self, model: nn.Module, opt: argparse.Namespace, log: Log = print) -> None:
        super().__init__()
        self.opt, self.device, self.preprocess_input = model.opt, model.device, model.preprocess_input
        spec = ModelSpec.from_opt(opt)
        tag = opt.which_epoch
        label = layout.inference_generator_label(opt, tag)
        self.netG = OnnxGenerator(cached_runner(
            model.netG, spec, layout.onnx_cache_file(opt, tag, label), f'the generator ({tag}_net_{label}.pth)',
            export_checked_generator, log), spec.z_dim)
        self.netE = None
        if model.netE is not None:
            self.netE = OnnxEncoder(cached_runner(
                model.netE, spec, layout.onnx_cache_file(opt, tag, 'E'), f'the image encoder ({tag}_net_E.pth)',
                export_checked_encoder, log))


class OnnxGenerator(nn.Module):
    """``forward(semantics, z=None) -> image``, as the PyTorch generator it was exported from."""

    def __init__(self, runner: OnnxRunner, z_dim: Optional[int]) -> None:
        super().__init__()
        self.runner, self.z_dim = runner, z_dim

    def forward(self, seg: torch.Tensor, z: Optional[torch.Tensor] = None) -> torch.Tensor:
        if not self.z_dim:
            return self.runner(seg)
        if z is None:  # the prior, drawn as SPADEGenerator.initial_map draws it: the same random stream
            z = torch.randn(seg.size(0), self.z_dim, dtype=seg.dtype, device=seg.device)
        return self.runner(seg, z)


class OnnxEncoder(nn.Module):
    """``forward(real) -> (mu, logvar)``, as the PyTorch encoder it was exported from."""

    def __init__(self, runner: OnnxRunner) -> None:
        super().__init__()
        self.runner = runner

    def forward(self, real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.runner(real)


# ----------------------------------------------------------------------------- the cache
Exporter = Callable[[nn.Module, ModelSpec, dict, str, str], tuple[bytes, OnnxRunner]]


def cached_runner(net: nn.Module, spec: ModelSpec, path: str, what: str, export: Exporter,
                  log: Log = print) -> OnnxRunner:
    """A runner of ``path`` when it was exported from ``net``'s weights for ``spec``; otherwise
    ``net`` exported (checked against PyTorch) and saved there, atomically."""
    key = cache_key(net, spec)
    runner = open_cached(path, key, log)
    if runner is not None:
        return runner
    log(f'exporting {what} to ONNX for onnxruntime, once per checkpoint (--backend torch skips it): {path}')
    payload, runner = export(net, spec, {'cache_key': key}, what, path)
    try:
        atomic_write_bytes(path, payload)
    except OSError as exc:
        log(f'{path}: cannot save the ONNX copy ({exc.strerror or exc}); running it from memory, '
            'it will be exported again next time')
    return runner


def open_cached(path: str, key: str, log: Log = print) -> Optional[OnnxRunner]:
    """The runner of the cached file when it holds ``key``; None when it is missing, unreadable or
    stale (said in a line, as it is then exported again)."""
    if not os.path.isfile(path):
        return None
    try:
        runner = OnnxRunner(path)
    except ExportError:
        raise  # onnxruntime itself is missing
    except Exception as exc:  # onnxruntime's own errors for a truncated or foreign file
        log(f'{path} cannot be read ({type(exc).__name__}: {first_line(exc)}); exporting it again')
        return None
    if runner.metadata().get('cache_key') != key:
        log(f'{path} was exported from other weights or for other options (e.g. a retrained epoch); '
            'exporting it again')
        return None
    return runner


def cache_key(net: nn.Module, spec: ModelSpec) -> str:
    """SHA-256 of the cache format, the model's inputs and outputs, and every tensor of ``net``'s
    state (names, shapes, types, bytes): what the exported file must reproduce."""
    described = json.dumps({'format': CACHE_FORMAT, 'spec': spec.metadata(), 'network': type(net).__name__},
                           sort_keys=True)
    digest = hashlib.sha256(described.encode())
    for name, tensor in net.state_dict().items():
        digest.update(f'{name} {tuple(tensor.shape)} {tensor.dtype}'.encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def export_checked_generator(netG: nn.Module, spec: ModelSpec, metadata: dict, what: str,
                             target: str) -> tuple[bytes, OnnxRunner]:
    payload, runner = export_generator(netG, spec, 'onnx', metadata=metadata, what=what)
    verify(ExportableGenerator(netG), runner, lambda batch, g: random_inputs(spec, batch, g), CHECK_BATCHES,
           CACHE_TOLERANCE, 'ONNX generator', target, fallback=FALLBACK)
    return payload, runner


def export_checked_encoder(netE: nn.Module, spec: ModelSpec, metadata: dict, what: str,
                           target: str) -> tuple[bytes, OnnxRunner]:
    payload, runner = export_encoder(netE, spec, metadata=metadata, what=what)
    verify(ExportableEncoder(netE), runner, lambda batch, g: random_photos(spec, batch, g), CHECK_BATCHES,
           CACHE_TOLERANCE, 'ONNX image encoder', target, fallback=FALLBACK)
    return payload, runner
