"""Inference options, with SPADE's test-time defaults, plus how fast to run them.

``--amp`` and ``--channels_last`` are training's options (:mod:`options.groups`, rules in
:mod:`util.precision`). At test time they say how to run, not what was trained, so
``--load_from_opt_file`` never takes them from a training run's ``opt.json``: a run trained with
``--amp bf16`` is still tested in float32 unless the command line asks otherwise.

``--backend`` (test.py, app.py, ``evaluate.py model``) says what runs the generator: ``torch``,
``onnxruntime`` (an ONNX copy, cached beside the run; CPU, float32) or ``auto`` (the default:
onnxruntime on the CPU, torch on CUDA or with a torch-only option). See :mod:`inference.backends`.
"""
import argparse
from typing import Optional, Sequence

from evaluation import options as evaluation_options
from options import groups
from options.base_options import BaseOptions, OptionParser
from util.errors import OptionError
from util.precision import Precision

# how to run, never taken from a training run's opt.json (see the module docstring)
RUN_OPTIONS = frozenset({'amp', 'channels_last', 'write_threads', 'backend'})
BACKENDS = ('auto', 'torch', 'onnxruntime')


def torch_only(opt: argparse.Namespace) -> Optional[str]:
    """The options that only the torch backend can honour, if any: onnxruntime runs the exported
    float32 graph on the CPU (``--backend auto`` then picks torch; ``onnxruntime`` is refused)."""
    if opt.gpu_ids:
        return f'--gpu_ids {",".join(map(str, opt.gpu_ids))} (a CUDA GPU)'
    return ' '.join(Precision.of(opt).flags()) or None


class TestOptions(BaseOptions):
    is_train = False
    never_saved = RUN_OPTIONS

    def initialize(self, parser: OptionParser) -> OptionParser:
        super().initialize(parser)
        parser.add_argument('--results_dir', type=str, default='./results/', help='saves results here')
        groups.add_checkpoint_options(parser, 'test', inference=True)
        parser.add_argument('--how_many', type=int, default=float('inf'), help='how many test images to run')
        # speed; workers (--nThreads) and the writer never change a result (see inference/pipeline.py)
        groups.add_precision_options(parser)
        parser.add_argument('--write_threads', type=int, default=0,
                            help='convert, encode and write the result images on this many background threads while '
                                 'the generator runs (0: write each batch before generating the next, as SPADE); '
                                 'load batches in parallel with --nThreads')
        parser.add_argument('--backend', type=str, default='auto', choices=BACKENDS,
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
        groups.check_precision(opt)
        blocker = torch_only(opt) if opt.backend == 'onnxruntime' else None
        if blocker:
            raise OptionError(f'--backend onnxruntime runs the float32 generator on the CPU, so it cannot honour '
                              f'{blocker}; use --backend torch (or auto, which picks torch there)')
