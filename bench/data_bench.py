"""Loader throughput: samples/s of each dataset mode at crop size 256 with 0, 2 and 4 workers.

Each file-based mode reads a generated tree with its real layout and realistic file sizes
(ADE20K-like 512x384 JPEGs, Cityscapes 2048x1024 PNGs, CelebA-HQ 1024 photos with 512 part
masks, ...); the synthetic mode renders on the fly. Throughput is measured after a first pass
has started the workers, as the best of ``--passes`` passes. For scale: SPADE at the paper's
ADE20K setting consumes about 50 images/s on one H200.

    python bench/data_bench.py                      # all modes, 0/2/4 workers
    python bench/data_bench.py --modes ade20k,synthetic --workers 0,2 --samples 32
"""
import argparse
import os
import sys
import tempfile
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, 'tests', 'data')]

import data  # noqa: E402
import data_fixtures as fx  # noqa: E402
from options.train_options import TrainOptions  # noqa: E402

MODES = ('synthetic', 'ade20k', 'cityscapes', 'coco', 'celebahq_raw', 'celebahq_prepared', 'deepfashion', 'custom')


def build_tree(mode: str, root: str, n: int) -> list:
    """Write a tree for ``mode`` holding ``n`` training samples; return its command-line arguments."""
    if mode == 'synthetic':
        return ['--synthetic_train_size', str(n)]
    if mode == 'ade20k':
        return ['--dataroot', fx.build_ade20k(root, n_train=n, n_val=0, size=(512, 384))['dataroot']]
    if mode == 'cityscapes':
        cities = [f'city{i}' for i in range(n // 4)]
        tree = fx.build_cityscapes(root, cities=cities, per_city=4, splits=('train',), size=(2048, 1024))
        return ['--dataroot', tree['dataroot']]
    if mode == 'coco':
        return ['--dataroot', fx.build_coco(root, n_train=n, n_val=0, size=(640, 480))['dataroot']]
    if mode == 'celebahq_raw':
        ids = [i * 10 for i in range(n)]  # all in the fallback split's training part
        tree = fx.build_celebahq_raw(root, ids=ids, image_size=1024, mask_size=512, mapping=False)
        return ['--dataroot', tree['dataroot'], '--celebahq_layout', 'raw']
    if mode == 'celebahq_prepared':
        tree = fx.build_celebahq_prepared(root, train_ids=range(n), val_ids=(), size=512, glasses=range(0, n, 2))
        return ['--dataroot', tree['dataroot']]
    if mode == 'deepfashion':
        return ['--dataroot', fx.build_deepfashion(root, n_train=n, n_val=0, size=(256, 256))['dataroot']]
    tree = fx.build_custom(root, names=[f'{i:04d}' for i in range(n)], size=(512, 512))
    return ['--label_dir', tree['label_dir'], '--image_dir', tree['image_dir']]


def samples_per_second(argv: list, workers: int, batch: int, passes: int) -> float:
    """The best of ``passes`` timed passes: on a shared machine the best is the loader's own speed."""
    opt = TrainOptions().parse(argv + ['--nThreads', str(workers), '--batchSize', str(batch)], save=False,
                               verbose=False)
    loader = data.create_dataloader(opt, dataset=data.create_dataset(opt))
    for _ in loader:  # start the workers and warm the file cache
        pass
    best = 0.0
    for _ in range(passes):
        start = time.perf_counter()
        count = sum(len(batch['path']) for batch in loader)
        best = max(best, count / (time.perf_counter() - start))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--modes', default=','.join(MODES))
    parser.add_argument('--workers', default='0,2,4')
    parser.add_argument('--samples', type=int, default=32, help='samples per tree (a multiple of 4)')
    parser.add_argument('--batch', type=int, default=4)
    parser.add_argument('--passes', type=int, default=3, help='timed passes; the best is reported')
    args = parser.parse_args()
    workers = [int(w) for w in args.workers.split(',')]
    print(f'torch {torch.__version__}, {os.cpu_count()} CPUs, crop 256, batch {args.batch}, '
          f'{args.samples} samples per pass')
    print(f"{'mode':<20}" + ''.join(f'{w:>4} workers' for w in workers) + '   (samples/s)')
    for mode in args.modes.split(','):
        with tempfile.TemporaryDirectory() as root:
            argv = ['--dataset_mode', mode.split('_')[0], '--crop_size', '256'] + build_tree(mode, root, args.samples)
            rates = [samples_per_second(argv, w, args.batch, args.passes) for w in workers]
        print(f'{mode:<20}' + ''.join(f'{r:>12.1f}' for r in rates), flush=True)


if __name__ == '__main__':
    main()
