"""Inference options, with SPADE's test-time defaults."""
import argparse
from typing import Sequence

from evaluation import options as evaluation_options
from options.base_options import BaseOptions, OptionParser
from util.errors import OptionError


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
        return opt, parser
