"""Inference options, with SPADE's test-time defaults, plus how fast to run them.

``--amp`` and ``--channels_last`` have training's names and meanings (the generator under
autocast; channels-last memory). They say how to run, not what was trained, so
``--load_from_opt_file`` never takes them from a training run's ``opt.json``: a run trained with
``--amp bf16`` is still tested in float32 unless the command line asks otherwise.

``--backend`` (test.py, app.py, ``evaluate.py model``) says what runs the generator: ``torch``,
``onnxruntime`` (an ONNX copy, cached beside the run; CPU, float32) or ``auto`` (the default:
onnxruntime on the CPU, torch on CUDA or with a torch-only option). See :mod:`inference.backends`.
"""
import argparse
from typing import Optional, Sequence

from evaluation import options as evaluation_options
from options.base_options import BaseOptions, OptionParser
from util.errors import OptionError

# how to run, never taken from a training run's opt.json (see the module docstring)
RUN_DEFAULTS = {'amp': 'none', 'channels_last': False, 'write_threads': 0, 'backend': 'auto'}
BACKENDS = ('auto', 'torch', 'onnxruntime')


def torch_only(opt: argparse.Namespace) -> Optional[str]:
    """The option that only the torch backend can honour, if any: onnxruntime runs the exported
    float32 graph on the CPU (``--backend auto`` then picks torch; ``onnxruntime`` is refused)."""
    if getattr(opt, 'gpu_ids', None):
        return f'--gpu_ids {",".join(map(str, opt.gpu_ids))} (a CUDA GPU)'
    if getattr(opt, 'amp', 'none') not in (None, 'none'):
        return f'--amp {opt.amp}'
    if getattr(opt, 'channels_last', False):
        return '--channels_last'
    return None


class TestOptions(BaseOptions):
    is_train = False

    def initialize(self, parser: OptionParser) -> OptionParser:
        super().initialize(parser)
        parser.add_argument('--results_dir', type=str, default='./results/', help='saves results here')
        parser.add_argument('--which_epoch', type=str, default='latest',
                            help='which epoch to load? "latest" for the latest checkpoint')
        parser.add_argument('--how_many', type=int, default=float('inf'), help='how many test images to run')
        parser.add_argument('--no_ema', action='store_true',
                            help='use the raw generator even where training saved an EMA copy (<epoch>_net_G_ema.pth)')
        # speed; workers (--nThreads) and the writer never change a result (see inference/pipeline.py)
        parser.add_argument('--amp', type=str, default=RUN_DEFAULTS['amp'], choices=('none', 'bf16', 'fp16'),
                            help='run the generator in mixed precision (bf16 on CPU or GPU, fp16 on GPU only); '
                                 'the images change slightly')
        parser.add_argument('--channels_last', action='store_true',
                            help='channels-last memory format for the generator and its input (faster convs on GPU); '
                                 'float32 images may change in rare pixels where those kernels round differently')
        parser.add_argument('--write_threads', type=int, default=RUN_DEFAULTS['write_threads'],
                            help='convert, encode and write the result images on this many background threads while '
                                 'the generator runs (0: write each batch before generating the next, as SPADE); '
                                 'load batches in parallel with --nThreads')
        parser.add_argument('--backend', type=str, default=RUN_DEFAULTS['backend'], choices=BACKENDS,
                            help='what runs the generator: torch; onnxruntime (on the CPU, float32: the generator, '
                                 'and the encoder with --use_vae, exported to ONNX on first use and cached in '
                                 'checkpoints_dir/name/onnx_cache/, re-exported when the checkpoint changes; its '
                                 'threads follow OMP_NUM_THREADS as torch\'s do); auto: onnxruntime on the CPU where '
                                 'it is installed (faster there), torch on a GPU or with --amp or --channels_last')
        parser.set_defaults(preprocess_mode='scale_width_and_crop', crop_size=256, load_size=256,
                            display_winsize=256, serial_batches=True, no_flip=True, phase='test')
        evaluation_options.modify_commandline_options(parser, self.is_train)
        return parser

    def gather_options(self, argv: Sequence[str]) -> tuple[argparse.Namespace, OptionParser]:
        opt, parser = super().gather_options(argv)
        if opt.load_from_opt_file and any(getattr(opt, k) != v for k, v in RUN_DEFAULTS.items()):
            parser.set_defaults(**RUN_DEFAULTS)  # undo opt.json's values; the command line's stay
            opt = parser.parse_args(parser.argv)
        # checked here, before the options are printed or any file is touched: a count below 1
        # used to run nothing, exit 0 and replace the results page with an empty one
        if opt.how_many < 1:
            raise OptionError(f'--how_many must be >= 1 (leave it out to run every image), got {opt.how_many}')
        if opt.display_winsize < 1:  # the page would show every image 0 pixels wide
            raise OptionError(f'--display_winsize must be >= 1, got {opt.display_winsize}')
        if opt.write_threads < 0:
            raise OptionError(f'--write_threads must be >= 0 (0: write in the main loop), got {opt.write_threads}')
        return opt, parser

    def adjust(self, opt: argparse.Namespace) -> None:
        if opt.amp == 'fp16' and not opt.gpu_ids:  # CPU autocast in float16 is slow and unvalidated
            raise OptionError('--amp fp16 needs a CUDA GPU (--gpu_ids); on the CPU use --amp bf16')
        blocker = torch_only(opt) if opt.backend == 'onnxruntime' else None
        if blocker:
            raise OptionError(f'--backend onnxruntime runs the float32 generator on the CPU, so it cannot honour '
                              f'{blocker}; use --backend torch (or auto, which picks torch there)')
