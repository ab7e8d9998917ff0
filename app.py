"""Paint a label map in the browser, GauGAN-style: ``python app.py --name NAME [--port 8765]``.

Serves a page on 127.0.0.1 where you paint with the run's classes and see its image update.
Every other option is test.py's (``--which_epoch``, ``--checkpoints_dir``, ``--dataset_mode``,
``--dataroot`` or ``--label_dir`` to pick maps from the test split, ``--gpu_ids``, ``--no_ema``,
``--backend``: onnxruntime on the CPU by default, see inference/backends.py; ``--amp``,
``--channels_last``); the run's saved options fill in the rest. See docs/painter.md.
"""
import argparse
import sys
from typing import Optional, Sequence

from options.base_options import OptionParser
from options.test_options import TestOptions
from util.entry import run_cli
from util.errors import OptionError, UserError


class AppOptions(TestOptions):
    """test.py's options (the run, where to pick test maps, how to run the generator) plus the server's."""

    def initialize(self, parser: OptionParser) -> OptionParser:
        super().initialize(parser)
        parser.description = ("Paint a label map in the browser and see the run's image. The options besides "
                              "--port and --quiet are test.py's; the run's opt.json fills in the rest.")
        parser.add_argument('--port', type=int, default=8765, help='port on 127.0.0.1 (0: any free port)')
        parser.add_argument('--quiet', action='store_true', help='do not log each request')
        return parser

    def adjust(self, opt: argparse.Namespace) -> None:
        super().adjust(opt)
        if not 0 <= opt.port <= 65535:
            raise OptionError(f'--port must be in 0..65535, got {opt.port}')

    def prog(self) -> str:
        return 'app.py'


def main(argv: Optional[Sequence[str]] = None) -> None:
    # imported here: the painter loads the networks' modules
    from painter.engine import Painter, parse_options
    from painter.server import serve
    opt = parse_options(sys.argv[1:] if argv is None else argv, AppOptions())
    painter = Painter(opt)
    try:
        server = serve(painter, opt.port, quiet=opt.quiet)
    except OSError as exc:
        raise UserError(f'cannot listen on 127.0.0.1:{opt.port} ({exc.strerror or exc}); choose another --port')
    width, height = painter.size
    print(f"painting with run '{opt.name}' (epoch {opt.which_epoch}, {opt.dataset_mode}, "
          f'{len(painter.classes)} classes, {width}x{height}, {painter.model.device}, {painter.backend})')
    print(f'open {server.url} in a browser (Ctrl-C to stop)', flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print('stopped')
    finally:
        server.server_close()


if __name__ == '__main__':
    run_cli(main, 'app.py')
