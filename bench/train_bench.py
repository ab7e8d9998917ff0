"""Training-step speed and memory: seconds per iteration, images/s and peak memory of the full
generator + discriminator step, for each perceptual loss and AMP mode, on synthetic tensors (so
the data loader is not measured; see bench/data_bench.py for it).

    python bench/train_bench.py --device cuda --batch 12 --size 256 --ngf 64 --label_nc 150 \\
        --losses vgg,monce --amps none,bf16 --channels_last

The paper's ADE20K setting is the default shape (crop 256, batch 12, ngf 64, 150 labels +
dontcare = 151 channels, no instance map). Each configuration runs in a fresh trainer; the
table lists them side by side, with the ratio to the first row.
"""
import argparse
import gc
import os
import resource
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from options.train_options import TrainOptions  # noqa: E402
from trainers.distributed import Context  # noqa: E402
from trainers.pix2pix_trainer import Pix2PixTrainer  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--batch', type=int, default=12)
    parser.add_argument('--size', type=int, default=256)
    parser.add_argument('--ngf', type=int, default=64)
    parser.add_argument('--label_nc', type=int, default=150, help='labels; +1 dontcare channel as ADE20K')
    parser.add_argument('--losses', default='vgg,patchnce,weightnce,monce')
    parser.add_argument('--amps', default='none,bf16', help='comma-separated of none,bf16,fp16')
    parser.add_argument('--iters', type=int, default=10, help='timed iterations per configuration')
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--channels_last', action='store_true')
    parser.add_argument('--compile', action='store_true')
    parser.add_argument('--recompute_fake_for_D', action='store_true', help="SPADE's second generator pass")
    parser.add_argument('--extra', default='', help='more train.py options, space-separated')
    return parser.parse_args(argv)


def train_options(args: argparse.Namespace, loss: str, amp: str) -> argparse.Namespace:
    argv = ['--gpu_ids', '-1', '--name', 'bench', '--checkpoints_dir', '/tmp/monce_bench', '--batchSize',
            str(args.batch), '--crop_size', str(args.size), '--load_size', str(args.size), '--ngf', str(args.ngf),
            '--label_nc', str(args.label_nc), '--contain_dontcare_label', '--no_instance',
            '--perceptual_loss', loss, '--amp', amp, '--vgg_weights', 'random', '--dataset_mode', 'synthetic']
    argv += ['--channels_last'] * args.channels_last + ['--compile'] * args.compile
    argv += ['--recompute_fake_for_D'] * args.recompute_fake_for_D + args.extra.split()
    return TrainOptions().parse(argv, save=False, verbose=False)


def synthetic_batch(args: argparse.Namespace, nc: int, device: torch.device):
    """Blocky label maps (one-hot) and images in [-1, 1], like a real batch after preprocessing."""
    generator = torch.Generator().manual_seed(0)
    coarse = torch.randint(0, nc, (args.batch, 1, args.size // 16, args.size // 16), generator=generator)
    labels = torch.nn.functional.interpolate(coarse.float(), size=(args.size, args.size)).long()
    semantics = torch.zeros(args.batch, nc, args.size, args.size).scatter_(1, labels, 1.0)
    real = torch.rand(args.batch, 3, args.size, args.size, generator=generator) * 2 - 1
    return semantics.to(device), real.to(device)


def measure(args: argparse.Namespace, loss: str, amp: str) -> dict:
    device = torch.device(args.device)
    torch.manual_seed(0)
    opt = train_options(args, loss, amp)
    trainer = Pix2PixTrainer(opt, Context(device=device))
    semantics, real = synthetic_batch(args, opt.semantic_nc, device)
    semantics, real = map(trainer.precision.prepare_input, (semantics, real))
    times = []
    for i in range(args.warmup + args.iters):
        if i == args.warmup and device.type == 'cuda':
            # after the warm-up: cuDNN's autotuning workspaces (first row only) are not the step's memory
            torch.cuda.reset_peak_memory_stats(device)
        sync(device)
        start = time.perf_counter()
        trainer.run_generator_one_step(semantics, real, i + 1)
        trainer.run_discriminator_one_step(semantics, real)
        sync(device)
        if i >= args.warmup:
            times.append(time.perf_counter() - start)
    losses = {k: float(v.detach()) for k, v in trainer.losses.items()}
    seconds = sorted(times)[len(times) // 2]  # median: robust to a shared machine
    result = {'loss': loss, 'amp': amp, 's_per_iter': seconds, 'images_per_s': args.batch / seconds,
              'peak_gb': peak_memory_gb(device), 'finite': all(map(lambda v: v == v and abs(v) < 1e9, losses.values()))}
    del trainer
    gc.collect()
    if device.type == 'cuda':
        torch.cuda.empty_cache()
    return result


def sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def peak_memory_gb(device: torch.device) -> float:
    if device.type == 'cuda':
        return torch.cuda.max_memory_allocated(device) / 2 ** 30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20  # process peak RSS (KiB -> GiB)


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.device.startswith('cuda'):
        torch.backends.cuda.matmul.allow_tf32 = True  # fp32 rows as the official code runs on Ampere+
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
        name = torch.cuda.get_device_name(torch.device(args.device))
    else:
        name = f'CPU ({torch.get_num_threads()} threads)'
    print(f'device: {name}; batch {args.batch}, {args.size}x{args.size}, ngf {args.ngf}, '
          f'{args.label_nc}+1 label channels, channels_last={args.channels_last}, compile={args.compile}, '
          f'recompute_fake_for_D={args.recompute_fake_for_D}, median of {args.iters} after {args.warmup} warm-up')
    rows = [measure(args, loss, amp) for amp in args.amps.split(',') for loss in args.losses.split(',')]
    base = rows[0]['s_per_iter']
    memory = 'peak GPU GB' if args.device.startswith('cuda') else 'peak RSS GB'
    print(f'{"loss":<10} {"amp":<5} {"s/iter":>8} {"images/s":>9} {memory:>12} {"vs row 1":>9} finite')
    for row in rows:
        print(f'{row["loss"]:<10} {row["amp"]:<5} {row["s_per_iter"]:8.3f} {row["images_per_s"]:9.2f} '
              f'{row["peak_gb"]:12.2f} {row["s_per_iter"] / base:9.2f} {row["finite"]}')


if __name__ == '__main__':
    main()
