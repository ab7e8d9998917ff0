"""Time the perceptual losses: VGG19 features, then the loss part of each variant.

    python bench/loss_bench.py --device cpu --batch 12 --size 256 --repeats 3
    python bench/loss_bench.py --device cuda --profile   # also count the ops of one loss call

Every figure is the best (minimum) over ``--repeats`` timed runs (after ``--warmup`` runs) of a forward
and a backward pass:
- VGG features: VGG19 on the fake image (with graph) and the real image (without), and the
  backward through the fake image's pass.
- each loss on fixed VGG activations: patch sampling, similarities, weights / optimal
  transport, cross-entropy (or SPADE's L1), and the backward to the fake activations.
The images are smooth random images (no dataset needed) and the VGG weights are random unless
``--vgg_weights`` says otherwise, so Sinkhorn step counts are indicative only.

MoNCE rows side by side: ``monce`` solves the layers' transport problems in one batched Sinkhorn
call (the default), ``monce per-layer`` one call per layer (the same results), ``monce fixed 32``
runs ``--sinkhorn_fixed`` with a cap of 32 steps (no host reads; the same results while every
problem converges within the cap). ``--profile`` counts, with torch.profiler, the tensor ops of
one loss call (forward and backward) per row: those of the Sinkhorn solver, the host reads,
and all of them; on CUDA also the kernels launched. ``--compile`` times ``torch.compile``d loss
parts instead (the fixed row's solver then compiles into the graph; its steps are unrolled, so
compiling takes minutes).
"""
import argparse
import collections
import os
import sys
import time
import warnings
from typing import Callable

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from models.networks import perceptual  # noqa: E402  (after the path set-up above)
from models.networks.vgg import VGG19Features  # noqa: E402
from options.base_options import OptionParser  # noqa: E402

# name: (loss options, PerceptualLoss keywords)
VARIANTS = {
    'vgg (L1)': (['--perceptual_loss', 'vgg'], {}),
    'patchnce': (['--perceptual_loss', 'patchnce'], {}),
    'weightnce': (['--perceptual_loss', 'weightnce'], {}),
    'monce': (['--perceptual_loss', 'monce'], {}),
    'monce per-layer': (['--perceptual_loss', 'monce'], {'stack_solves': False}),
    'monce fixed 32': (['--perceptual_loss', 'monce', '--sinkhorn_fixed', '--sinkhorn_iters', '32'], {}),
    'monce official': (['--monce_preset', 'official'], {}),
}
# ops that only make a new view or read metadata: no kernel behind them
NO_KERNEL_OPS = {'aten::' + name for name in (
    'view', 'as_strided', 'transpose', 't', 'permute', 'unsqueeze', 'squeeze', 'expand', 'reshape', '_reshape_alias',
    '_unsafe_view', 'flatten', 'select', 'slice', 'narrow', 'diagonal', 'split', 'split_with_sizes', 'unbind',
    'detach', 'detach_', 'alias', 'lift_fresh', 'resolve_conj', 'resolve_neg', 'to', 'contiguous', 'empty',
    'empty_like', 'empty_strided', 'result_type', 'promote_types', 'is_nonzero', 'item', '_local_scalar_dense')}
HOST_READ_OPS = {'aten::is_nonzero', 'aten::item', 'aten::_local_scalar_dense', 'aten::nonzero'}


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
    parser.add_argument('--profile', action='store_true',
                        help='count the ops (solver, host reads, all; CUDA kernels) of one loss call of each row')
    parser.add_argument('--compile', action='store_true', help='time torch.compile(loss part) of every row')
    return parser.parse_args(argv)


def loss_module(args: argparse.Namespace, variant: tuple[list[str], dict], vggs: dict) -> perceptual.PerceptualLoss:
    """The loss for a variant; variants with the same taps share one VGG (so the same activations)."""
    variant_args, keywords = variant
    argv = variant_args + ['--vgg_weights', args.vgg_weights] + args.loss_args.split()
    parser = OptionParser(argv)
    perceptual.modify_commandline_options(parser, True)
    opt = parser.parse_args(argv)
    taps = tuple(perceptual.parse_layers(opt))
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # the random-weights warning
        if taps not in vggs:
            vggs[taps] = VGG19Features(taps, opt.vgg_weights, opt.vgg_normalize).to(args.device)
        return perceptual.PerceptualLoss(opt, vgg=vggs[taps], **keywords).to(args.device)


def images(args: argparse.Namespace) -> tuple[torch.Tensor, torch.Tensor]:
    # smooth random images, so that neighbouring patches have similar features as in photos
    coarse = torch.randn(args.batch, 3, max(args.size // 16, 1), max(args.size // 16, 1), device=args.device)
    real = F.interpolate(coarse, size=(args.size, args.size), mode='bicubic', align_corners=False).clamp(-1, 1)
    fake = (real + 0.3 * torch.randn_like(real)).clamp(-1, 1)
    return fake, real


def _sync(device: str) -> None:
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def timed(fns: dict[str, Callable[[], None]], device: str, warmup: int, repeats: int) -> dict[str, float]:
    """Best (minimum) seconds of each function; the functions take turns, so that a busy
    spell of a shared machine slows them all alike (and other tenants only ever add time)."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    best = {name: float('inf') for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            _sync(device)
            start = time.perf_counter()
            fn()
            _sync(device)
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def vgg_step(loss: perceptual.PerceptualLoss, fake: torch.Tensor, real: torch.Tensor) -> Callable[[], None]:
    def step() -> None:
        leaf = fake.detach().requires_grad_(True)
        fake_feats, _ = loss.features(leaf, real)
        outputs = list(fake_feats.values())
        torch.autograd.backward(outputs, [torch.ones_like(x) for x in outputs])
    return step


def loss_step(loss: perceptual.PerceptualLoss, fake_feats: dict, real_feats: dict,
              compile_: bool = False) -> Callable[[], None]:
    compare = torch.compile(loss.compare) if compile_ else loss.compare

    def step() -> None:
        leaves = {name: x.detach().requires_grad_(True) for name, x in fake_feats.items()}
        compare(leaves, real_feats).backward()
    return step


def op_counts(step: Callable[[], None], device: str) -> dict[str, int]:
    """Ops of one call of ``step`` as torch.profiler sees them: tensor ops made by Python code
    (each launches at least one kernel on a GPU; views left out), those made inside
    models/networks/sinkhorn.py, the reads of a value back to the host, and on CUDA the kernels."""
    activities = [torch.profiler.ProfilerActivity.CPU]
    if device.startswith('cuda'):
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    torch.manual_seed(0)  # the same patches for every row, so the same Sinkhorn steps
    with torch.profiler.profile(activities=activities, with_stack=True) as prof:
        step()
        _sync(device)
    counts: collections.Counter = collections.Counter()
    for event in prof.events():
        if event.device_type == torch.autograd.DeviceType.CUDA:
            counts['kernels'] += 1
            continue
        parent = event.cpu_parent
        if not event.name.startswith('aten::') or (parent is not None and parent.name.startswith('aten::')):
            continue  # not an op, or an op called by another op
        counts['host reads'] += event.name in HOST_READ_OPS
        if event.name in NO_KERNEL_OPS:
            continue
        counts['ops'] += 1
        counts['solver ops'] += any(_in_solver(caller.name) for caller in _ancestors(event))
    return counts


def _in_solver(name: str) -> bool:
    # the solve's Python frames; the backward's autograd node, which the profiler names even where
    # the backward runs on a thread of the autograd engine that the Python tracer does not see
    return 'sinkhorn.py' in name or '_ImplicitPlan' in name


def _ancestors(event):
    while event.cpu_parent is not None:
        event = event.cpu_parent
        yield event


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    fake, real = images(args)
    names = [name.strip() for name in args.variants.split(',') if name.strip()]
    unknown = [name for name in names if name not in VARIANTS]
    if unknown:
        sys.exit(f"--variants: unknown {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    print(f'device {args.device} ({_device_name(args.device)}), batch {args.batch}, {args.size}x{args.size}, '
          f'best of {args.repeats} after {args.warmup} warm-up, torch {torch.__version__}, '
          f'{torch.get_num_threads()} CPU threads')
    vggs: dict = {}
    losses = {name: loss_module(args, VARIANTS[name], vggs) for name in names}
    first = {taps: next(loss for loss in losses.values() if tuple(loss.layers) == taps) for taps in vggs}
    vgg_seconds = timed({taps: vgg_step(loss, fake, real) for taps, loss in first.items()},
                        args.device, args.warmup, args.repeats)
    for taps, seconds in vgg_seconds.items():
        print(f"VGG19 features ({','.join(taps)}): {seconds * 1e3:.1f} ms (forward+backward)")
    with torch.no_grad():
        feats = {taps: loss.features(fake, real) for taps, loss in first.items()}
    steps = {name: loss_step(loss, *feats[tuple(loss.layers)], args.compile) for name, loss in losses.items()}
    seconds = timed(steps, args.device, args.warmup, args.repeats)
    rows = []
    for name, loss in losses.items():
        sinkhorn = [int(v) for key, v in loss.last_stats.items() if key.endswith('_sinkhorn_iters')]
        rows.append((name, seconds[name], vgg_seconds[tuple(loss.layers)], max(sinkhorn) if sinkhorn else None))
    _print_table(rows)
    if args.profile:
        _print_op_counts({name: op_counts(step, args.device) for name, step in steps.items()})


def _print_op_counts(counts: dict[str, dict[str, int]]) -> None:
    kernels = any('kernels' in count for count in counts.values())
    columns = ['solver ops', 'host reads', 'ops'] + (['kernels'] if kernels else [])
    print(f"\nops of one loss call, forward+backward (torch.profiler; views left out)\n{'loss part':<16}"
          + ''.join(f'{column:>12}' for column in columns))
    for name, count in counts.items():
        print(f'{name:<16}' + ''.join(f'{count[column]:>12}' for column in columns))


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
