"""Inference options, with SPADE's test-time defaults."""
from evaluation import options as evaluation_options
from options.base_options import BaseOptions, OptionParser


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
