"""A trained run's generator as a deployable model: ONNX or TorchScript (``export.py``).

The exported model is the generator alone:

- input ``semantics``: float32 (B, C, H, W), the tensor :class:`models.input_encoding.InputEncoder`
  gives the generator: the one-hot label map (``--label_nc`` classes, + 1 with
  ``--contain_dontcare_label``), then the instance-edge map channel when the run used instance
  maps; DeepFashion's dense pose map as it is;
- input ``z`` (``--use_vae`` runs only): float32 (B, ``--z_dim``), the style code; N(0, 1) draws a
  random style (the image encoder is not exported);
- output ``image``: float32 (B, 3, H, W) in [-1, 1].

``--backend onnxruntime`` (:mod:`inference.backends`) also exports a ``--use_vae`` run's image
encoder with :func:`export_encoder`: input ``real`` (B, 3, H, W) in [-1, 1], outputs ``mu`` and
``logvar`` (B, ``--z_dim``), so that a style photo works there too.

The batch size is free; height and width are the run's (``--crop_size`` by ``--crop_size /
--aspect_ratio``). The generator is the one test.py uses: the EMA copy when training saved one,
unless ``--no_ema``. Before anything is written the exported model is run on random label maps at
each ``--batch_check`` size and compared with the PyTorch generator in eval mode; a difference
above ``--tolerance`` (1e-4) stops with one line and writes nothing.

ONNX goes through torch's TorchScript-based exporter (``dynamo=False``): it needs the ``onnx``
package only, works offline and handles this generator; the newer torch.export-based exporter
would also need ``onnxscript``. TorchScript uses ``torch.jit.trace``.
"""
import argparse
import copy
import io
import json
import os
import shlex
import warnings
from dataclasses import dataclass, field
from typing import Callable, Iterator, Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import parametrize
from torch.nn.utils.spectral_norm import SpectralNorm

import models
from data import DATASETS
from data.conventions import label_channels
from models import networks
from models.input_encoding import get_edges, one_hot
from options import groups, opt_file
from options.base_options import BaseOptions, OptionParser, OptionSetter
from runs import layout, networks as network_files
from util.errors import OptionError, UserError
from util.fileio import atomic_write_bytes, blocking_file
from util.precision import plain

FORMATS = {'onnx': '.onnx', 'torchscript': '.pt'}
TOLERANCE = 1e-4
# 17 is read by every current runtime (onnxruntime, TensorRT, OpenVINO...) and has every op used here
DEFAULT_OPSET = 17
MIN_OPSET = 11  # Resize to a computed size (SPADE's nearest resizing of the label map) needs 11
# dataset modes whose label is a dense float map, not class indices
DENSE_LABELS = frozenset(mode for mode, dataset in DATASETS.items() if dataset.labels.dense)
TRACE_BATCH = 2  # traced at a size that --batch_check's default (1,3) does not hold: the checks prove it is free
METADATA_KEY, METADATA_FILE = 'spade_export', 'spade_export.json'
# options of this command, never taken from the run's opt.json
EXPORT_CONTROL = frozenset({'format', 'output', 'opset', 'batch_check', 'tolerance', 'no_ema', 'which_epoch'})
# options that do not change the exported generator: accepted, not listed by --help
HIDDEN = frozenset({'gpu_ids', 'model', 'norm_D', 'norm_E', 'phase', 'seed', 'batchSize', 'preprocess_mode',
                    'load_size', 'preprocess_fix', 'dataroot', 'serial_batches', 'no_flip', 'nThreads',
                    'max_dataset_size', 'load_from_opt_file', 'cache_filelist_write', 'cache_filelist_read',
                    'display_winsize', 'init_type', 'init_variance', 'nef', 'dataset_mode'})
HELP = ('-h', '--help')


class ExportError(UserError):
    """An export that failed, does not match PyTorch, or cannot be written."""


# ----------------------------------------------------------------------------- options
class ExportOptions(BaseOptions):
    """The run (``--name``, ``--checkpoints_dir``, ``--which_epoch``, ``--no_ema``) and the export's
    own options; the generator's options come from the run's ``opt.json`` (or SPADE's ``opt.txt``),
    and one given on the command line overrides the saved value, as with test.py's
    ``--load_from_opt_file``. No dataset option setter runs: a dataset's required options (e.g.
    ``--label_dir``) do not concern the generator."""
    is_train = False
    never_saved = EXPORT_CONTROL
    hidden = HIDDEN

    def initialize(self, parser: OptionParser) -> OptionParser:
        super().initialize(parser)
        parser.description = ("Export a trained run's generator as ONNX or TorchScript and check it against "
                              "PyTorch. The generator's options (--netG, --ngf, --label_nc, --crop_size, "
                              "--use_vae...) are read from the run's opt.json; give one only to override it.")
        groups.add_checkpoint_options(parser, 'export', inference=True)
        parser.add_argument('--format', type=str, default='onnx', choices=tuple(FORMATS),
                            help='onnx (run with onnxruntime) or torchscript (run with torch.jit.load)')
        parser.add_argument('--output', type=str, default=None,
                            help='the file to write [default: checkpoints_dir/name/export/<G or G_ema>_<which_epoch>'
                                 '.onnx, .pt for torchscript]')
        parser.add_argument('--opset', type=int, default=DEFAULT_OPSET,
                            help=f'ONNX opset version ({MIN_OPSET} to {max_opset()})')
        parser.add_argument('--batch_check', type=str, default='1,3',
                            help='batch sizes at which the exported model is compared with PyTorch, comma-separated')
        parser.add_argument('--tolerance', type=float, default=TOLERANCE,
                            help='largest max-abs difference from PyTorch accepted (float32, images in [-1, 1])')
        parser.set_defaults(gpu_ids='-1')  # exported and checked on the CPU
        return parser

    def saved_options(self, parser: OptionParser) -> dict:
        """As test.py with ``--load_from_opt_file``, except that the run must exist (``--help`` aside)."""
        return {} if any(arg in HELP for arg in parser.argv) else saved_options(parser.peek())

    def option_setters(self, seen: argparse.Namespace) -> tuple[OptionSetter, ...]:
        return (models.get_option_setter(seen.model),)

    def adjust(self, opt: argparse.Namespace) -> None:
        opt.gpu_ids = []
        opt.batch_check = parse_batch_sizes(opt.batch_check)
        if not MIN_OPSET <= opt.opset <= max_opset():
            raise OptionError(f'--opset {opt.opset} is not supported: choose {MIN_OPSET} to {max_opset()}')
        if not opt.tolerance > 0:
            raise OptionError(f'--tolerance must be > 0, got {opt.tolerance}')
        opt.output = opt.output or default_output(opt)
        check_output_path(opt.output, FORMATS[opt.format])

    def prog(self) -> str:
        return 'export.py'


def saved_options(seen: argparse.Namespace) -> dict:
    """The run's saved options, after checking that the run and the epoch's generator exist."""
    layout.check_generator_exists(seen)
    if not any(os.path.isfile(layout.file_in(seen, name)) for name in (layout.OPTIONS_JSON, layout.OPTIONS_TEXT)):
        raise OptionError(f'{layout.file_in(seen, layout.OPTIONS_JSON)} not found: export.py reads the generator\'s '
                          'options from the opt.json (or opt.txt) that train.py writes beside the checkpoints')
    return opt_file.load_json(seen)


def max_opset() -> int:
    from torch.onnx._constants import ONNX_MAX_OPSET  # the TorchScript-based exporter's limit
    return ONNX_MAX_OPSET


def parse_batch_sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in str(text).split(',') if part.strip()]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise OptionError(f"--batch_check must be batch sizes >= 1 separated by commas, e.g. 1,3; got '{text}'")
    return list(dict.fromkeys(sizes))


def default_output(opt: argparse.Namespace) -> str:
    label = layout.inference_generator_label(opt, opt.which_epoch)
    return os.path.join(layout.run_dir(opt), 'export', f'{label}_{opt.which_epoch}{FORMATS[opt.format]}')


def check_output_path(path: str, extension: str = '.onnx') -> None:
    """Refuse, before the export, an output that is a folder or lies under a file."""
    if path.endswith(('/', os.sep)) or os.path.isdir(path):
        example = os.path.join(path, 'G' + extension)
        raise OptionError(f'--output {path} is a folder; give the file to write, e.g. {example}')
    blocker = blocking_file(os.path.dirname(os.path.abspath(path)))
    if blocker:
        raise OptionError(f'--output {path}: {blocker} is a file, not a folder; choose another --output')


# ----------------------------------------------------------------------------- the model
@dataclass(frozen=True)
class Signature:
    """The names of an exported model's inputs and outputs, in call order."""
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


ENCODER_SIGNATURE = Signature(('real',), ('mu', 'logvar'))


@dataclass
class ModelSpec:
    """What the exported model takes and gives."""
    label_nc: int
    label_channels: int      # label_nc (+ 1 dontcare)
    dontcare: bool
    instance: bool           # one more input channel: the instance-edge map
    dense: bool              # the label is a dense float map (DeepFashion's poses), not class indices
    z_dim: Optional[int]     # the style input's size (--use_vae), else None
    height: int
    width: int
    out_channels: int = 3

    @property
    def channels(self) -> int:
        return self.label_channels + int(self.instance)

    @property
    def input_names(self) -> list[str]:
        return ['semantics'] + (['z'] if self.z_dim else [])

    @property
    def signature(self) -> Signature:
        return Signature(tuple(self.input_names), ('image',))

    def shapes(self) -> str:
        """'semantics (B, C, H, W)[, z (B, Z)]; output: image (B, 3, H, W) in [-1, 1]'."""
        size = f'{self.height}, {self.width}'
        inputs = f'semantics (B, {self.channels}, {size})' + (f', z (B, {self.z_dim})' if self.z_dim else '')
        return f'inputs: {inputs}; output: image (B, {self.out_channels}, {size}) in [-1, 1]'

    def metadata(self) -> dict:
        """What the file records about its inputs (ONNX metadata / a TorchScript extra file)."""
        return {'inputs': self.input_names, 'output': 'image', 'height': self.height, 'width': self.width,
                'channels': self.channels, 'label_nc': self.label_nc, 'contain_dontcare_label': self.dontcare,
                'instance_edges': self.instance, 'dense_label': self.dense, 'z_dim': self.z_dim}

    @staticmethod
    def from_opt(opt: argparse.Namespace) -> 'ModelSpec':
        width = opt.crop_size
        return ModelSpec(label_nc=opt.label_nc, label_channels=label_channels(opt),
                         dontcare=bool(opt.contain_dontcare_label), instance=not opt.no_instance,
                         dense=opt.dataset_mode in DENSE_LABELS,
                         z_dim=opt.z_dim if opt.use_vae else None, height=round(width / opt.aspect_ratio), width=width)


class ExportableGenerator(nn.Module):
    """``forward(semantics[, z]) -> image``: the generator with z as an input, not a sample."""

    def __init__(self, netG: nn.Module) -> None:
        super().__init__()
        self.netG = netG

    def forward(self, semantics: torch.Tensor, z: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.netG(semantics, z=z)


class ExportableEncoder(nn.Module):
    """``forward(real) -> (mu, logvar)``: the ``--use_vae`` image encoder."""

    def __init__(self, netE: nn.Module) -> None:
        super().__init__()
        self.netE = netE

    def forward(self, real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.netE(real)


def load_generator(opt: argparse.Namespace, log: Callable[[str], None] = print) -> tuple[nn.Module, str, str]:
    """(the generator in eval mode, its label G or G_ema, its file), as test.py loads it."""
    layout.check_generator_exists(opt)
    netG = networks.define_G(opt, verbose=False)
    label, path = network_files.load_inference_generator(netG, opt, opt.which_epoch, log)
    return netG.eval(), label, path


def prepare_for_export(netG: nn.Module) -> ExportableGenerator:
    """An eval-mode copy of ``netG`` with plain layers (:func:`plain_copy`), taking z as an input."""
    return ExportableGenerator(plain_copy(netG)).eval()


def plain_copy(net: nn.Module) -> nn.Module:
    """An eval-mode copy of ``net`` computing the same function with plain layers:

    - spectral norm is baked in: in eval mode the weight is ``weight_orig / sigma`` with sigma from
      the stored u and v (no power iteration), so it is fixed; the copy holds that weight, as
      ``remove_spectral_norm`` computes it;
    - a parameter-free batch or instance norm gets an explicit unit scale and zero shift: the ONNX
      exporter needs the channel count to make them itself, which it loses after the VAE's reshape
      with a free batch size (same arithmetic, checked against the original by the export check).
    """
    net = copy.deepcopy(net).eval()
    for module in net.modules():
        for hook in list(module._forward_pre_hooks.values()):
            if isinstance(hook, SpectralNorm):
                torch.nn.utils.remove_spectral_norm(module, hook.name)
        if parametrize.is_parametrized(module):  # parametrizations.spectral_norm & co
            for name in list(module.parametrizations):
                parametrize.remove_parametrizations(module, name, leave_parametrized=True)
        if isinstance(module, (nn.modules.batchnorm._BatchNorm, nn.modules.instancenorm._InstanceNorm)) \
                and not module.affine:
            module.affine = True
            module.weight = nn.Parameter(torch.ones(module.num_features), requires_grad=False)
            module.bias = nn.Parameter(torch.zeros(module.num_features), requires_grad=False)
    for parameter in net.parameters():
        parameter.requires_grad_(False)
    return net


def random_inputs(spec: ModelSpec, batch: int, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
    """Random label maps (and instance maps, z) encoded as :class:`InputEncoder` encodes a batch."""
    shape = (batch, 1, spec.height, spec.width)
    if spec.dense:
        semantics = torch.rand(batch, spec.label_channels, spec.height, spec.width, generator=generator)
    else:
        semantics = one_hot(torch.randint(0, spec.label_channels, shape, generator=generator), spec.label_channels)
    if spec.instance:
        # objects of a few pixels, so that the edge map has both edges and insides
        coarse = torch.randint(0, 8, (batch, 1, max(1, spec.height // 4), max(1, spec.width // 4)),
                               generator=generator)
        instance = F.interpolate(coarse.float(), size=shape[2:], mode='nearest').long()
        semantics = torch.cat((semantics, get_edges(instance)), dim=1)
    if spec.z_dim:
        return semantics, torch.randn(batch, spec.z_dim, generator=generator)
    return (semantics,)


def random_photos(spec: ModelSpec, batch: int, generator: torch.Generator) -> tuple[torch.Tensor]:
    """Random photos in [-1, 1] at the run's size: the encoder's input."""
    return (torch.rand(batch, 3, spec.height, spec.width, generator=generator) * 2 - 1,)


# ----------------------------------------------------------------------------- the formats
def to_onnx(model: nn.Module, example: tuple, signature: Signature, opset: int, metadata: dict) -> bytes:
    try:
        import onnx
    except ImportError:
        raise ExportError('ONNX export needs the onnx and onnxruntime packages: pip install onnx onnxruntime')
    buffer = io.BytesIO()
    names, outputs = list(signature.inputs), list(signature.outputs)
    with warnings.catch_warnings():
        # dynamo=False: the TorchScript-based exporter, which torch marks deprecated but keeps; it works
        # offline with the onnx package alone and handles this generator, where the torch.export-based
        # one would also need onnxscript (see the module docstring)
        warnings.simplefilter('ignore', DeprecationWarning)
        warnings.simplefilter('ignore', torch.jit.TracerWarning)
        warnings.filterwarnings('ignore', message='Constant folding')  # an optimisation skipped, not an error
        # instance norm always normalises with the image's own statistics, as in PyTorch's eval mode
        warnings.filterwarnings('ignore', message='ONNX export mode is set to TrainingMode.EVAL')
        torch.onnx.export(model, example, buffer, dynamo=False, input_names=names, output_names=outputs,
                          opset_version=opset, dynamic_axes={name: {0: 'batch'} for name in names + outputs})
    proto = onnx.load_model_from_string(buffer.getvalue())
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(metadata, sort_keys=True)
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


class OnnxRunner:
    """An onnxruntime session called on tensors: ``runner(*inputs)`` gives the output tensor (a
    tuple for several outputs). ``model``: the file's bytes or its path.

    Threads: ``threads`` intra-op threads (default: ``torch.get_num_threads()``, which follows
    ``OMP_NUM_THREADS`` and ``torch.set_num_threads``), so that one thread setting holds for both
    runtimes: ``OMP_NUM_THREADS=1`` leaves the other core free, 2 uses both. One inter-op thread:
    the generator is one chain of layers, there is nothing to run beside it."""

    def __init__(self, model: Union[bytes, str], threads: Optional[int] = None) -> None:
        try:
            import onnxruntime
        except ImportError:
            raise ExportError('onnxruntime is not installed: pip install onnxruntime')
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # errors only
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        self.session = onnxruntime.InferenceSession(model, options, providers=['CPUExecutionProvider'])
        self.inputs = [node.name for node in self.session.get_inputs()]
        self.outputs = [node.name for node in self.session.get_outputs()]

    def metadata(self) -> dict:
        """What :func:`to_onnx` recorded in the file (``{}`` for a file made elsewhere)."""
        text = self.session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
        try:
            return json.loads(text) if text else {}
        except ValueError:
            return {}

    def __call__(self, *inputs: torch.Tensor) -> Union[torch.Tensor, tuple[torch.Tensor, ...]]:
        # an input the exporter found unused (e.g. z of a generator that ignores it) is not fed
        feed = {name: plain(tensor.cpu()).numpy() for name, tensor in zip(self.inputs, inputs)}
        outputs = tuple(torch.from_numpy(array) for array in self.session.run(self.outputs, feed))
        return outputs[0] if len(outputs) == 1 else outputs


def run_onnx(payload: bytes, signature: Signature) -> OnnxRunner:
    return OnnxRunner(payload)


def to_torchscript(model: nn.Module, example: tuple, signature: Signature, opset: int, metadata: dict) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # torch marks TorchScript deprecated in favour of torch.export, whose files need torch of the same
        # version to run; TorchScript files run with torch.jit.load (and libtorch), which is what is asked here
        warnings.simplefilter('ignore', FutureWarning)
        warnings.simplefilter('ignore', torch.jit.TracerWarning)
        traced = torch.jit.trace(model, example, check_trace=False)  # checked below, at other batch sizes
        torch.jit.save(traced, buffer, _extra_files={METADATA_FILE: json.dumps(metadata, sort_keys=True)})
    return buffer.getvalue()


def run_torchscript(payload: bytes, signature: Signature) -> Callable[..., torch.Tensor]:
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', FutureWarning)  # see to_torchscript
        loaded = torch.jit.load(io.BytesIO(payload), map_location='cpu').eval()

    def run(*inputs: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return loaded(*inputs)
    return run


EXPORTERS = {'onnx': (to_onnx, run_onnx), 'torchscript': (to_torchscript, run_torchscript)}


# ----------------------------------------------------------------------------- the command
@dataclass
class ExportResult:
    path: str
    format: str
    label: str                  # G or G_ema
    source: str                 # the generator file
    spec: ModelSpec
    differences: dict = field(default_factory=dict)  # batch size -> max abs difference from PyTorch

    def summary(self, tolerance: float) -> str:
        each = ', '.join(f'batch {b}: {d:.2e}' for b, d in self.differences.items())
        return f'max abs difference from PyTorch (float32): {each} (tolerance {tolerance:g})'


def export_run(opt: argparse.Namespace, log: Callable[[str], None] = print) -> ExportResult:
    """Exports the run's generator to ``opt.output`` once it matches PyTorch at ``opt.batch_check``."""
    netG, label, source = load_generator(opt, log)
    spec = ModelSpec.from_opt(opt)
    metadata = {'generator': os.path.basename(source), 'name': opt.name, 'which_epoch': opt.which_epoch}
    what = f'the generator of {opt.name} (--netG {opt.netG} --norm_G {opt.norm_G}{" --use_vae" if opt.use_vae else ""})'
    payload, run = export_generator(netG, spec, opt.format, opt.opset, metadata, what, seed=opt.seed)
    result = ExportResult(opt.output, opt.format, label, source, spec)
    result.differences = verify(ExportableGenerator(netG), run, lambda batch, g: random_inputs(spec, batch, g),
                                opt.batch_check, opt.tolerance, f'{opt.format} model', opt.output, seed=opt.seed + 1)
    write_file(opt.output, payload)
    return result


def export_generator(netG: nn.Module, spec: ModelSpec, fmt: str, opset: int = DEFAULT_OPSET,
                     metadata: Optional[dict] = None, what: str = 'the generator',
                     seed: int = 0) -> tuple[bytes, Callable[..., torch.Tensor]]:
    """(the file's bytes, a function running them on tensors) for ``netG`` in eval mode.
    Sets ``spec.out_channels``; an exporter or runtime failure becomes one :class:`ExportError` line."""
    model = prepare_for_export(netG)
    example = random_inputs(spec, TRACE_BATCH, torch.Generator().manual_seed(seed))
    with torch.no_grad():
        spec.out_channels = model(*example).shape[1]
    return export_module(model, example, spec.signature, fmt, opset, dict(spec.metadata(), **(metadata or {})), what)


def export_encoder(netE: nn.Module, spec: ModelSpec, opset: int = DEFAULT_OPSET, metadata: Optional[dict] = None,
                   what: str = 'the image encoder', seed: int = 0) -> tuple[bytes, OnnxRunner]:
    """(the ONNX file's bytes, its runner) for a ``--use_vae`` encoder ``netE`` in eval mode:
    ``real`` -> ``mu``, ``logvar``, at the run's image size with a free batch size."""
    model = ExportableEncoder(plain_copy(netE)).eval()
    example = random_photos(spec, TRACE_BATCH, torch.Generator().manual_seed(seed))
    described = {'inputs': list(ENCODER_SIGNATURE.inputs), 'outputs': list(ENCODER_SIGNATURE.outputs),
                 'height': spec.height, 'width': spec.width, 'z_dim': spec.z_dim}
    return export_module(model, example, ENCODER_SIGNATURE, 'onnx', opset, dict(described, **(metadata or {})), what)


def export_module(model: nn.Module, example: tuple, signature: Signature, fmt: str, opset: int, metadata: dict,
                  what: str) -> tuple[bytes, Callable[..., torch.Tensor]]:
    write, load = EXPORTERS[fmt]
    try:
        payload = write(model, example, signature, opset, metadata)
        return payload, load(payload, signature)
    except UserError:
        raise
    except Exception as exc:  # the exporter or the runtime refusing this network: say which, in one line
        raise ExportError(f'{fmt} cannot export {what}: {type(exc).__name__}: {first_line(exc)}') from exc


def verify(reference: nn.Module, run: Callable, make_inputs: Callable[[int, torch.Generator], tuple],
           batches: Sequence[int], tolerance: float, what: str, target: str, seed: int = 1,
           fallback: Optional[str] = None) -> dict[int, float]:
    """{batch size: max abs difference of ``run`` from ``reference`` (in eval mode) on random
    inputs}; raises :class:`ExportError` at the first difference above ``tolerance``, saying that
    nothing was written to ``target`` and what to do: a larger ``--tolerance`` where the gap is
    float32 rounding, or ``fallback`` where the tolerance is not the user's to set."""
    differences = {}
    for batch, difference, inputs in compare(reference, run, make_inputs, batches, seed):
        differences[batch] = difference
        if not difference <= tolerance:  # also catches NaN
            own = float32_error(reference, inputs)
            limit = f'the {tolerance:g} accepted' if fallback else f'--tolerance {tolerance:g}'
            advice = f'; {fallback}' if fallback else (': when the two are of one order the gap is float32 rounding, '
                                                       'and a larger --tolerance is safe')
            raise ExportError(f'the exported {what} differs from PyTorch by {difference:.3g} (max abs) '
                              f'at batch {batch}, more than {limit}; nothing was written to {target} '
                              f'(PyTorch\'s own float32 result is {own:.2g} from float64 there{advice})')
    return differences


def compare(reference: nn.Module, run: Callable, make_inputs: Callable[[int, torch.Generator], tuple],
            batches: Sequence[int], seed: int = 1) -> Iterator[tuple[int, float, tuple]]:
    """(batch size, max abs difference between ``run`` and ``reference`` in eval mode over all
    outputs, the random inputs)."""
    generator = torch.Generator().manual_seed(seed)
    reference.eval()
    for batch in batches:
        inputs = make_inputs(batch, generator)
        with torch.no_grad():
            expected = as_tuple(reference(*inputs))
        got = as_tuple(run(*inputs))
        if [g.shape for g in got] != [e.shape for e in expected]:
            raise ExportError(f'the exported model gives shapes {[tuple(g.shape) for g in got]} for batch {batch}, '
                              f'PyTorch {[tuple(e.shape) for e in expected]}')
        yield batch, max((g.float() - e.float()).abs().max().item() for g, e in zip(got, expected)), inputs


def as_tuple(output) -> tuple:
    return tuple(output) if isinstance(output, (tuple, list)) else (output,)


def float32_error(reference: nn.Module, inputs: tuple) -> float:
    """How far PyTorch's float32 network is from its float64 copy on ``inputs``: the scale of the
    rounding differences that any other float32 implementation may show."""
    precise = copy.deepcopy(reference).double().eval()
    with torch.no_grad():
        single = as_tuple(reference(*inputs))
        double = as_tuple(precise(*(tensor.double() for tensor in inputs)))
    return max((s.double() - d).abs().max().item() for s, d in zip(single, double))


def write_file(path: str, payload: bytes) -> None:
    try:
        atomic_write_bytes(path, payload)
    except OSError as exc:
        raise ExportError(f'{path}: cannot write ({exc.strerror or exc}); choose another --output') from exc


def first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return lines[0][:300] if lines else '(no message)'


# ----------------------------------------------------------------------------- how to run it
RUNNER_PROGRAM = 'run_export.py'  # what docs/export.md ("Running the file") calls its program


def usage(result: ExportResult) -> str:
    """How to run the exported file: with the program of docs/export.md, which reads what the
    file takes (size, channels, dontcare, instance edges, z) from the metadata the export wrote."""
    spec = result.spec
    inputs = 'semantics.npy (the pose map)' if spec.dense else 'label.png'
    if spec.instance:
        inputs += ' and instance.png'
    return (f'the program under "Running the file" in docs/export.md, saved as {RUNNER_PROGRAM},\n'
            f'turns {inputs} of the current folder into synthesized.png:\n'
            f'    python {RUNNER_PROGRAM} {shlex.quote(result.path)}')
