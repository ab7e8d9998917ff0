"""How long the painter takes to answer one stroke, with the ADE20K-size generator.

    python bench/painter_latency.py [--device cpu|cuda] [--repeats 5] [--threads 1,2]
                                    [--backends torch,onnxruntime]

Builds a run with random weights in a temporary folder: SPADE's ADE20K generator (151 label
channels = 150 classes + dontcare, as ``--dataset_mode ade20k`` gives; ``--ngf 64``,
``spectralspadesyncbatch3x3``, 256x256), then times, after ``--warmup`` untimed calls:

- ``app``: :meth:`painter.engine.Painter.synthesize_request`, what POST /api/synthesize runs:
  decode the page's raw map, build the batch, the generator through test.py's loader path,
  tensor -> uint8 -> PNG bytes (no HTTP: the page adds a local round trip of a few ms);
- ``generator``: ``netG(one-hot map)`` alone, on the same model;
- ``around the generator``: the app's other steps alone (decode, batch, one-hot, PNG).

Each backend (``--backends``: torch, onnxruntime; CPU only for onnxruntime) at each thread
count (``--threads``, e.g. ``1,2``: torch.set_num_threads(N) before the painter is built, which
also sets onnxruntime's intra-op threads; 1 leaves a core of a 2-core machine free, 2 uses both)
gets its own painter, side by side in one table. onnxruntime's first painter exports and checks
the generator (its start-up time is printed; later ones read the cache beside the run).

Prints the median and the 90th percentile (linear interpolation over the repeats) of each, the
speed-up of each row's app time over torch's at the same thread count, and how far its PNG is
from torch's (largest difference in levels).
"""
import argparse
import io
import os
import platform
import sys
import tempfile
import time

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from models import networks  # noqa: E402  (after the path set-up above)
from options import opt_file  # noqa: E402
from options.test_options import TestOptions  # noqa: E402
from painter.engine import Painter  # noqa: E402
from painter.labelmaps import image_png  # noqa: E402
from util import util  # noqa: E402

NAME = 'painter_bench'
BACKENDS = ('torch', 'onnxruntime')


def parse_args(argv: list) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--device', default='cpu', choices=('cpu', 'cuda'))
    parser.add_argument('--size', type=int, default=256, help='map and image height and width')
    parser.add_argument('--ngf', type=int, default=64)
    parser.add_argument('--repeats', type=int, default=0, help='timed calls of each kind (0: 5 on CPU, 30 on CUDA)')
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--threads', type=str, default='0',
                        help='CPU threads, or several: 1,2 (0: torch default); onnxruntime takes the same count')
    parser.add_argument('--backends', type=str, default=None,
                        help='comma-separated of torch, onnxruntime [cpu: torch,onnxruntime; cuda: torch]')
    args = parser.parse_args(argv)
    args.repeats = args.repeats or (30 if args.device == 'cuda' else 5)
    try:
        args.thread_counts = [int(part) for part in args.threads.split(',') if part.strip()]
    except ValueError:
        args.thread_counts = []
    if not args.thread_counts or min(args.thread_counts) < 0:
        parser.error(f'--threads must be counts >= 0 separated by commas, e.g. 1,2; got {args.threads!r}')
    args.backends = (args.backends or ('torch' if args.device == 'cuda' else 'torch,onnxruntime')).split(',')
    for backend in args.backends:
        if backend not in BACKENDS:
            parser.error(f'--backends: unknown backend {backend!r}; choose from {", ".join(BACKENDS)}')
    if args.device == 'cuda' and 'onnxruntime' in args.backends:
        parser.error('--backends onnxruntime runs on the CPU (--device cpu)')
    return args


def make_run(root: str, args: argparse.Namespace) -> tuple[list, int]:
    """A run folder with ADE20K's generator (random weights) and its opt.json; (the painter's argv,
    the generator's parameter count)."""
    gpu = '0' if args.device == 'cuda' else '-1'
    argv = ['--name', NAME, '--checkpoints_dir', root, '--gpu_ids', gpu, '--dataset_mode', 'ade20k',
            '--crop_size', str(args.size), '--load_size', str(args.size), '--ngf', str(args.ngf),
            '--norm_G', 'spectralspadesyncbatch3x3']
    options = TestOptions()
    opt = options.parse(argv, verbose=False)
    assert opt.semantic_nc == 151, opt.semantic_nc
    torch.manual_seed(0)
    net = networks.define_G(opt, verbose=False)
    os.makedirs(os.path.join(root, NAME), exist_ok=True)
    torch.save(net.state_dict(), os.path.join(root, NAME, 'latest_net_G.pth'))
    opt_file.save(opt, options.parser)
    return ['--name', NAME, '--checkpoints_dir', root, '--gpu_ids', gpu], sum(p.numel() for p in net.parameters())


def painted_map(size: int, classes: int) -> np.ndarray:
    """A map like a painted scene: rectangles of 40 random classes over a sky."""
    rng = np.random.default_rng(0)
    labels = np.full((size, size), 3, np.uint8)
    for _ in range(40):
        y, x = rng.integers(0, size, 2)
        h, w = rng.integers(size // 16, size // 3, 2)
        labels[y:y + h, x:x + w] = rng.integers(1, classes)
    return labels


def timed(call, repeats: int, warmup: int, device: str) -> np.ndarray:
    for _ in range(warmup):
        call()
    seconds = []
    for _ in range(repeats):
        if device == 'cuda':
            torch.cuda.synchronize()
        start = time.perf_counter()
        call()
        if device == 'cuda':
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - start)
    return np.array(seconds)


def measure(argv: list, backend: str, threads: int, args: argparse.Namespace) -> dict:
    """One painter on ``backend`` with ``threads`` CPU threads (0: torch's default); torch's count
    is restored after."""
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)  # before the painter: onnxruntime's session takes its count then
    try:
        start = time.perf_counter()
        painter = Painter.from_argv(argv + ['--backend', backend])
        startup = time.perf_counter() - start
        labels = painted_map(args.size, painter.num_classes)
        body = labels.tobytes()
        query = {'width': str(args.size), 'height': str(args.size), 'dtype': painter.dtype}
        batch = torch.utils.data.default_collate([painter.sample(labels)])
        semantics, _ = painter.model.preprocess_input(batch)  # the one-hot map the generator reads
        netG = painter.model.netG

        def generator_alone():
            with torch.no_grad():
                netG(semantics)

        fake = torch.rand(1, 3, args.size, args.size, device=semantics.device) * 2 - 1

        def around_the_generator():  # the app's steps without the generator: decode, batch, one-hot, PNG
            decoded = painter.decode(body, query)
            painter.model.preprocess_input(torch.utils.data.default_collate([painter.sample(decoded)]))
            image_png(util.tensor2im(fake[0]))

        seconds = {
            'app': timed(lambda: painter.synthesize_request(body, query), args.repeats, args.warmup, args.device),
            'generator': timed(generator_alone, args.repeats, args.warmup, args.device),
            'around': timed(around_the_generator, args.repeats, args.warmup, args.device),
        }
        png, _ = painter.synthesize_request(body, query)
        return {'backend': painter.backend, 'threads': torch.get_num_threads(), 'startup': startup,
                'seconds': seconds, 'png': png}
    finally:
        torch.set_num_threads(before)


def main(argv: list) -> None:
    args = parse_args(argv)
    if args.device == 'cuda' and not torch.cuda.is_available():
        sys.exit('painter_latency.py: --device cuda but CUDA is not available')
    rows = []
    with tempfile.TemporaryDirectory() as root:
        painter_argv, parameters = make_run(root, args)
        for threads in args.thread_counts:
            for backend in args.backends:
                first = backend == 'onnxruntime' and all(row['backend'] != backend for row in rows)
                rows.append(measure(painter_argv, backend, threads, args))
                print(f'  {backend}, {rows[-1]["threads"]} thread(s): painter ready in {rows[-1]["startup"]:.1f} s'
                      + (' (exporting and checking the generator: its first use)' if first else ''), flush=True)

    where = torch.cuda.get_device_name(0) if args.device == 'cuda' else \
        f'{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs'
    print(f'painter latency: {args.size}x{args.size} map, 151 label channels, ngf {args.ngf}, '
          f'spectralspadesyncbatch3x3 ({parameters / 1e6:.1f} M parameters), device {args.device} ({where}), '
          f'torch {torch.__version__}{onnxruntime_version(args.backends)}, {args.repeats} timed calls after '
          f'{args.warmup} warm-up; milliseconds, median / p90')
    print(f'  {"backend":<12} {"threads":>7} {"app (decode -> generator -> PNG)":>34} {"generator alone":>17} '
          f'{"around the generator":>21} {"vs torch":>8} {"max diff":>8}')
    for row in rows:
        base = next((r for r in rows if r['threads'] == row['threads'] and r['backend'] == 'torch'), row)
        cells = [f'{np.median(row["seconds"][k]) * 1000:.1f} / {np.percentile(row["seconds"][k], 90) * 1000:.1f}'
                 for k in ('app', 'generator', 'around')]
        speedup = np.median(base['seconds']['app']) / np.median(row['seconds']['app'])
        print(f'  {row["backend"]:<12} {row["threads"]:>7} {cells[0]:>34} {cells[1]:>17} {cells[2]:>21} '
              f'{speedup:8.2f} {png_difference(row["png"], base["png"]):>8}')
    print(f'  (around the generator: decode the raw map, batch, one-hot, tensor -> PNG; the PNG is '
          f'{len(rows[-1]["png"])} bytes)')
    print(f'  load average after timing: {", ".join(f"{x:.1f}" for x in os.getloadavg())} (1, 5, 15 min)')


def png_difference(png: bytes, base: bytes) -> int:
    """The largest difference between two PNGs' values, in levels."""
    a, b = (np.array(Image.open(io.BytesIO(payload))).astype(int) for payload in (png, base))
    return int(np.abs(a - b).max())


def onnxruntime_version(backends: list) -> str:
    if 'onnxruntime' not in backends:
        return ''
    import onnxruntime
    return f', onnxruntime {onnxruntime.__version__}'


if __name__ == '__main__':
    main(sys.argv[1:])
