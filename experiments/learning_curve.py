"""Learning curves of study runs: texture error, oracle mIoU and SWD against training images, from
each run's ``study_metrics.jsonl``, and a grid of the first test images at chosen epochs.

    python experiments/learning_curve.py OUT/runs/monce_s0 [OUT/runs/vgg_s0 ...] --out docs/results \
        --epochs 1,2,5,10,15

Writes ``learning_curve.png`` and ``learning_samples.png`` (rows: the chosen epochs of the first
run, top to bottom) in --out, and prints each run's scores epoch by epoch as a Markdown table.
A run trained on past the study's schedule (``experiments/extend.py``) is plotted the same way.
"""
import argparse
import math
import os
import sys
from typing import Optional

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from experiments.study_eval import METRICS_FILE, SAMPLES_DIR, load_samples, read_results  # noqa: E402
from experiments.study_stats import METRICS, scaled  # noqa: E402
from util.entry import run_cli  # noqa: E402
from util.errors import OptionError  # noqa: E402

CURVES = ('texture_error', 'miou', 'swd')  # the panels, left to right


def scored_rows(folder: str) -> list[dict]:
    """The run's scored epochs, percentages as the report shows them; refused when there are none."""
    rows = read_results(folder)
    if not rows:
        raise OptionError(f'{folder} holds no scored epochs (no {METRICS_FILE}): give a study run folder, '
                          'OUT/runs/NAME, whose epochs the study or extend.py has scored')
    return [scaled(row) for row in rows]


def _value(row: dict, key: str) -> float:
    """A metric as a number to plot; NaN where it was not computed or not defined (texture: null)."""
    value = row.get(key)
    return float(value) if isinstance(value, (int, float)) else math.nan


def plot_curves(folders: list[str], path: str, title: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(CURVES), figsize=(13, 3.6))
    for folder in folders:
        rows = scored_rows(folder)
        x = [row['total_images'] for row in rows]
        for ax, key in zip(axes, CURVES):
            ax.plot(x, [_value(row, key) for row in rows], 'o-', label=os.path.basename(os.path.normpath(folder)))
    for ax, key in zip(axes, CURVES):
        ax.set_title(METRICS[key][0])
        ax.set_xlabel('training images')
        ax.grid(alpha=0.3)
    axes[0].axhline(1.0, color='grey', lw=0.8, ls='--')   # flat colour
    axes[0].axhline(0.5, color='tab:green', lw=0.8, ls=':')
    axes[0].legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def sample_grid(folder: str, epochs: list[int], path: str) -> None:
    """The first test images at each epoch, one row per epoch, at twice their size."""
    from PIL import Image
    rows = []
    for epoch in epochs:
        strip = load_samples(folder, epoch)
        if strip is None:
            have = [row['epoch'] for row in read_results(folder)
                    if os.path.isfile(os.path.join(folder, SAMPLES_DIR, f"epoch_{row['epoch']}.png"))]
            raise OptionError(f'{folder} has no samples of epoch {epoch} ({SAMPLES_DIR}/epoch_{epoch}.png); '
                              f'--epochs can take {", ".join(map(str, have)) or "none"}')
        rows.append(np.concatenate(list(strip), axis=1))
    grid = np.concatenate(rows, axis=0)
    Image.fromarray(grid).resize((grid.shape[1] * 2, grid.shape[0] * 2), Image.NEAREST).save(path)


def epoch_table(folder: str, first_new: Optional[int] = None) -> str:
    """Markdown: one line per scored epoch (``*`` on epochs from ``first_new`` on: an extension's)."""
    rows = scored_rows(folder)
    lines = ['| epoch | training images | ' + ' | '.join(METRICS[k][0] for k in CURVES) + ' |',
             '|' + ' --- |' * (len(CURVES) + 2)]
    for row in rows:
        mark = '*' if first_new is not None and row['epoch'] >= first_new else ''
        cells = [f'{_value(row, k):.3f}' if k == 'texture_error' else f'{_value(row, k):.2f}' for k in CURVES]
        lines.append(f"| {row['epoch']}{mark} | {row['total_images']:,} | " + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def parse_epochs(text: str) -> list[int]:
    try:
        epochs = [int(e) for e in text.split(',') if e.strip()]
    except ValueError:
        raise OptionError(f'--epochs takes comma-separated epoch numbers, got {text!r}') from None
    if not epochs:
        raise OptionError('--epochs needs at least one epoch')
    return epochs


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog='experiments/learning_curve.py', description=__doc__.split('\n\n')[0])
    parser.add_argument('runs', nargs='+', help='study run folders (OUT/runs/NAME)')
    parser.add_argument('--out', required=True, help='folder for the two figures')
    parser.add_argument('--epochs', default='1,2,5,10', help="the grid's epochs, of the first run [default: 1,2,5,10]")
    parser.add_argument('--title', default='', help="the curves' title")
    args = parser.parse_args(argv)
    epochs = parse_epochs(args.epochs)
    tables = [f'{folder}:\n\n{epoch_table(folder)}' for folder in args.runs]  # every run checked before drawing
    os.makedirs(args.out, exist_ok=True)
    sample_grid(args.runs[0], epochs, os.path.join(args.out, 'learning_samples.png'))
    plot_curves(args.runs, os.path.join(args.out, 'learning_curve.png'), args.title)
    print('\n\n'.join(tables))


if __name__ == '__main__':
    run_cli(main, 'learning_curve.py')
