"""Time the perceptual losses: VGG19 features, then the loss part of each variant.

    python bench/loss_bench.py --device cpu --batch 12 --size 256 --repeats 3

Every figure is the median over ``--repeats`` timed runs (after ``--warmup`` runs) of a forward
and a backward pass:
- VGG features: VGG19 on the fake image (with graph) and the real image (without), and the
  backward through the fake image's pass.
- each loss on fixed VGG activations: patch sampling, similarities, weights / optimal
  transport, cross-entropy (or SPADE's L1), and the backward to the fake activations.
The images are smooth random images (no dataset needed) and the VGG weights are random unless
``--vgg_weights`` says otherwise, so Sinkhorn step counts are indicative only.
"""
import argparse
import os
import statistics
import sys
import time
import warnings
from typing import Callable

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from models.networks import perceptual  # noqa: E402  (after the path set-up above)
from options.base_options import OptionParser  # noqa: E402

VARIANTS = {
    'vgg (L1)': ['--perceptual_loss', 'vgg'],
    'patchnce': ['--perceptual_loss', 'patchnce'],
    'weightnce': ['--perceptual_loss', 'weightnce'],
    'monce': ['--perceptual_loss', 'monce'],
    'monce official': ['--monce_preset', 'official'],
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--batch', type=int, default=12)
    parser.add_argument('--size', type=int, default=256, help='image height and width')
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--vgg_weights', default='random')
    parser.add_argument('--threads', type=int, default=0, help='CPU threads (0: torch default)')
    parser.add_argument('--variants', default=','.join(VARIANTS), help='comma-separated rows to run')
    parser.add_argument('--loss_args', default='', help="extra loss options, e.g. '--ot_eps 0.05'")
    return parser.parse_args(argv)


def loss_module(args: argparse.Namespace, variant_args: list[str]) -> perceptual.PerceptualLoss:
    argv = variant_args + ['--vgg_weights', args.vgg_weights] + args.loss_args.split()
    parser = OptionParser(argv)
    perceptual.modify_commandline_options(parser, True)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # the random-weights warning, once per variant
        return perceptual.PerceptualLoss(parser.parse_args(argv)).to(args.device)


def images(args: argparse.Namespace) -> tuple[torch.Tensor, torch.Tensor]:
    # smooth random images, so that neighbouring patches have similar features as in photos
    coarse = torch.randn(args.batch, 3, max(args.size // 16, 1), max(args.size // 16, 1), device=args.device)
    real = F.interpolate(coarse, size=(args.size, args.size), mode='bicubic', align_corners=False).clamp(-1, 1)
    fake = (real + 0.3 * torch.randn_like(real)).clamp(-1, 1)
    return fake, real


def timed(fn: Callable[[], None], device: str, warmup: int, repeats: int) -> float:
    """Median seconds of ``fn``."""
    def sync() -> None:
        if device.startswith('cuda'):
            torch.cuda.synchronize()
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def vgg_time(loss: perceptual.PerceptualLoss, fake: torch.Tensor, real: torch.Tensor, args) -> float:
    def step() -> None:
        leaf = fake.detach().requires_grad_(True)
        fake_feats, _ = loss.features(leaf, real)
        outputs = list(fake_feats.values())
        torch.autograd.backward(outputs, [torch.ones_like(x) for x in outputs])
    return timed(step, args.device, args.warmup, args.repeats)


def loss_time(loss: perceptual.PerceptualLoss, fake_feats: dict, real_feats: dict, args) -> float:
    def step() -> None:
        leaves = {name: x.detach().requires_grad_(True) for name, x in fake_feats.items()}
        loss.compare(leaves, real_feats).backward()
    return timed(step, args.device, args.warmup, args.repeats)


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    fake, real = images(args)
    names = [name.strip() for name in args.variants.split(',') if name.strip()]
    print(f'device {args.device} ({_device_name(args.device)}), batch {args.batch}, {args.size}x{args.size}, '
          f'median of {args.repeats} after {args.warmup} warm-up, torch {torch.__version__}, '
          f'{torch.get_num_threads()} CPU threads')
    rows, vgg_seconds = [], {}
    for name in names:
        loss = loss_module(args, VARIANTS[name])
        taps = ','.join(loss.layers)
        if taps not in vgg_seconds:
            vgg_seconds[taps] = vgg_time(loss, fake, real, args)
            print(f'VGG19 features ({taps}): {vgg_seconds[taps] * 1e3:.1f} ms (forward+backward)')
        with torch.no_grad():
            fake_feats, real_feats = loss.features(fake, real)
        seconds = loss_time(loss, fake_feats, real_feats, args)
        steps = {key: value for key, value in loss.last_stats.items() if key.endswith('_sinkhorn_iters')}
        rows.append((name, seconds, vgg_seconds[taps], max(steps.values()) if steps else None))
    _print_table(rows)


def _print_table(rows: list[tuple]) -> None:
    patchnce = next((seconds for name, seconds, _, _ in rows if name == 'patchnce'), None)
    print(f"\n{'loss part':<16}{'ms':>10}{'x patchnce':>12}{'% of VGG':>10}{'sinkhorn steps':>16}")
    for name, seconds, vgg, steps in rows:
        ratio = f'{seconds / patchnce:.2f}' if patchnce else '-'
        print(f"{name:<16}{seconds * 1e3:>10.1f}{ratio:>12}{100 * seconds / vgg:>9.1f}%{steps if steps else '-':>16}")


def _device_name(device: str) -> str:
    if device.startswith('cuda'):
        return torch.cuda.get_device_name(torch.device(device))
    return f'{os.cpu_count()} CPUs'


if __name__ == '__main__':
    main(sys.argv[1:])
