"""Learning curves of study runs: texture error, oracle mIoU and SWD against training images, from
each run's ``study_metrics.jsonl``, and a grid of the first test images at chosen epochs.

    python experiments/learning_curve.py OUT/runs/monce_s0 [OUT/runs/vgg_s0 ...] --out docs/results \
        --epochs 1,2,5,10,15

Writes ``learning_curve.png`` and ``learning_samples.png`` (rows: epochs of the first run) in --out.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from experiments.study_eval import load_samples, read_results  # noqa: E402

PANELS = [('texture_error', 'texture error (1 = flat, 0 = real)', 1),
          ('miou', 'oracle mIoU %', 100), ('swd', 'SWD x1e3', 1)]


def plot_curves(folders: list[str], path: str, title: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(PANELS), figsize=(13, 3.6))
    for folder in folders:
        rows = read_results(folder)
        x = [r['total_images'] for r in rows]
        for ax, (key, name, scale) in zip(axes, PANELS):
            ax.plot(x, [r[key] * scale for r in rows], 'o-', label=os.path.basename(folder))
            ax.set_title(name)
            ax.set_xlabel('training images')
            ax.grid(alpha=0.3)
    axes[0].axhline(1.0, color='grey', lw=0.8, ls='--')
    axes[0].axhline(0.5, color='tab:green', lw=0.8, ls=':')
    axes[0].legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def sample_grid(folder: str, epochs: list[int], path: str) -> None:
    from PIL import Image
    rows = [load_samples(folder, e) for e in epochs]
    rows = [np.concatenate(list(r), axis=1) for r in rows if r is not None]
    grid = np.concatenate(rows, axis=0)
    Image.fromarray(grid).resize((grid.shape[1] * 2, grid.shape[0] * 2), Image.NEAREST).save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('runs', nargs='+', help='study run folders (OUT/runs/NAME)')
    parser.add_argument('--out', required=True, help='folder for the two figures')
    parser.add_argument('--epochs', default='1,2,5,10', help="the grid's epochs, of the first run")
    parser.add_argument('--title', default='', help="the curves' title")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    plot_curves(args.runs, os.path.join(args.out, 'learning_curve.png'), args.title)
    sample_grid(args.runs[0], [int(e) for e in args.epochs.split(',')], os.path.join(args.out, 'learning_samples.png'))
    for folder in args.runs:
        for r in read_results(folder):
            print(os.path.basename(folder), r['epoch'], r['total_images'], *(round(r[k] * s, 3) for k, _, s in PANELS))


if __name__ == '__main__':
    main()
