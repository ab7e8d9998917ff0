"""Paint a label map in the browser, GauGAN-style: ``python app.py --name NAME [--port 8765]``.

Serves a page on 127.0.0.1 where you paint with the run's classes and see its image update.
Every other option is test.py's (``--which_epoch``, ``--checkpoints_dir``, ``--dataset_mode``,
``--dataroot`` or ``--label_dir`` to pick maps from the test split, ``--gpu_ids``, ``--no_ema``,
``--backend``: onnxruntime on the CPU by default, see inference/backends.py);
the run's saved options fill in the rest. See docs/painter.md.
"""
import argparse
import sys
from typing import Optional, Sequence

from util.entry import run_cli


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(
        prog='app.py', description='Paint a label map in the browser and see the run\'s image. Other options are '
                                   'test.py\'s (--name, --which_epoch, --checkpoints_dir, --dataset_mode, --dataroot, '
                                   '--label_dir, --gpu_ids, --no_ema, --backend); the run\'s opt.json fills in the '
                                   'rest.')
    parser.add_argument('--port', type=int, default=8765, help='port on 127.0.0.1 (0: any free port)')
    parser.add_argument('--quiet', action='store_true', help='do not log each request')
    own, rest = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    if not 0 <= own.port <= 65535:
        parser.error(f'--port must be in 0..65535, got {own.port}')

    # imported here so that --help answers at once
    from painter.engine import Painter
    from painter.server import serve
    painter = Painter.from_argv(rest)
    try:
        server = serve(painter, own.port, quiet=own.quiet)
    except OSError as exc:
        from util.errors import UserError
        raise UserError(f'cannot listen on 127.0.0.1:{own.port} ({exc.strerror or exc}); choose another --port')
    width, height = painter.size
    print(f"painting with run '{painter.opt.name}' (epoch {painter.opt.which_epoch}, {painter.opt.dataset_mode}, "
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
