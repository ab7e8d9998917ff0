"""How long the painter takes to answer one stroke, with the ADE20K-size generator.

    python bench/painter_latency.py [--device cpu|cuda] [--repeats 5] [--threads 0]

Builds a run with random weights in a temporary folder: SPADE's ADE20K generator (151 label
channels = 150 classes + dontcare, as ``--dataset_mode ade20k`` gives; ``--ngf 64``,
``spectralspadesyncbatch3x3``, 256x256), then times, after ``--warmup`` untimed calls:

- ``app``: :meth:`painter.engine.Painter.synthesize_request`, what POST /api/synthesize runs:
  decode the page's raw map, build the batch, the generator through test.py's loader path,
  tensor -> uint8 -> PNG bytes (no HTTP: the page adds a local round trip of a few ms);
- ``generator``: ``netG(one-hot map)`` alone, on the same model;
- ``around the generator``: the app's other steps alone (decode, batch, one-hot, PNG).

Prints the median and the 90th percentile (linear interpolation over the repeats) of each.
"""
import argparse
import os
import platform
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from models import networks  # noqa: E402  (after the path set-up above)
from options import opt_file  # noqa: E402
from options.test_options import TestOptions  # noqa: E402
from painter.engine import Painter  # noqa: E402
from painter.labelmaps import image_png  # noqa: E402
from util import util  # noqa: E402

NAME = 'painter_bench'


def parse_args(argv: list) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--device', default='cpu', choices=('cpu', 'cuda'))
    parser.add_argument('--size', type=int, default=256, help='map and image height and width')
    parser.add_argument('--ngf', type=int, default=64)
    parser.add_argument('--repeats', type=int, default=0, help='timed calls of each kind (0: 5 on CPU, 30 on CUDA)')
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--threads', type=int, default=0, help='CPU threads (0: torch default)')
    args = parser.parse_args(argv)
    args.repeats = args.repeats or (30 if args.device == 'cuda' else 5)
    return args


def make_run(root: str, args: argparse.Namespace) -> list:
    """A run folder with ADE20K's generator (random weights) and its opt.json; the painter's argv."""
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
    return ['--name', NAME, '--checkpoints_dir', root, '--gpu_ids', gpu]


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


def main(argv: list) -> None:
    args = parse_args(argv)
    if args.device == 'cuda' and not torch.cuda.is_available():
        sys.exit('painter_latency.py: --device cuda but CUDA is not available')
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as root:
        painter = Painter.from_argv(make_run(root, args))
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

        results = {
            'app (decode -> generator -> PNG)': timed(lambda: painter.synthesize_request(body, query),
                                                      args.repeats, args.warmup, args.device),
            'generator alone': timed(generator_alone, args.repeats, args.warmup, args.device),
            'around the generator': timed(around_the_generator, args.repeats, args.warmup, args.device),
        }
        png, _ = painter.synthesize_request(body, query)

    where = torch.cuda.get_device_name(0) if args.device == 'cuda' else \
        f'{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, {os.cpu_count()} CPUs'
    parameters = sum(p.numel() for p in netG.parameters()) / 1e6
    print(f'painter latency: {args.size}x{args.size} map, 151 label channels, ngf {args.ngf}, '
          f'spectralspadesyncbatch3x3 ({parameters:.1f} M parameters), device {args.device} ({where}), '
          f'torch {torch.__version__}, {args.repeats} timed calls after {args.warmup} warm-up')
    for label, seconds in results.items():
        print(f'  {label:34s} median {np.median(seconds) * 1000:8.1f} ms   p90 {np.percentile(seconds, 90) * 1000:8.1f} ms'
              f'   (min {seconds.min() * 1000:.1f}, max {seconds.max() * 1000:.1f})')
    print(f'  (around the generator: decode the raw map, batch, one-hot, tensor -> PNG; the PNG is {len(png)} bytes)')
    print(f'  load average while timing: {", ".join(f"{x:.1f}" for x in os.getloadavg())} (1, 5, 15 min)')


if __name__ == '__main__':
    main(sys.argv[1:])
