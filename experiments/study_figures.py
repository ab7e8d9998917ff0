"""The study's pictures: one PNG per metric against training images (a line per configuration,
the spread over seeds shaded) and a grid of the same test label maps synthesised by every
configuration next to the real image."""
import json
import os
from typing import Optional

import matplotlib

matplotlib.use('Agg')  # files only: no display on training machines
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from data.synthetic import render  # noqa: E402
from data.synthetic_dataset import SyntheticDataset  # noqa: E402
from experiments.study_eval import load_samples, run_folder  # noqa: E402
from experiments.study_plan import Plan  # noqa: E402
from experiments.study_stats import METRICS, RunResult, curve, finished  # noqa: E402
from util.fileio import atomic_open  # noqa: E402


def _save(figure, path: str) -> None:
    with atomic_open(path, durable=False) as f:
        figure.savefig(f, format='png', dpi=110, bbox_inches='tight')
    plt.close(figure)


def metric_plot(results: list[RunResult], configs: list[str], metric: str, path: str) -> bool:
    """Mean over seeds as a line, min..max over seeds shaded; False if no run has the metric."""
    label, higher = METRICS[metric]
    figure, axes = plt.subplots(figsize=(6.4, 4.0))
    drawn = False
    for config in configs:
        images, values = curve(results, config, metric)
        if values.size == 0:
            continue
        mean = values.mean(axis=0)
        line, = axes.plot(images, mean, marker='o', markersize=3, label=f'{config} (n={len(values)})')
        if len(values) > 1:
            axes.fill_between(images, values.min(axis=0), values.max(axis=0), color=line.get_color(), alpha=0.18)
        drawn = True
    if not drawn:
        plt.close(figure)
        return False
    axes.set_xlabel('training images')
    axes.set_ylabel(label)
    axes.set_title(f'{label} on the test split ({"higher" if higher else "lower"} is better)')
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    _save(figure, path)
    return True


def sample_grid(out: str, plan: Plan, results: list[RunResult], configs: list[str], path: str) -> Optional[str]:
    """Rows: test label maps; columns: label, real image, each configuration's first finished
    seed at its last epoch. Returns a caption, or None when nothing was generated yet."""
    columns, titles = [], []
    for config in configs:
        runs = finished(results, config)
        samples = load_samples(run_folder(out, runs[0].run)) if runs else None
        if samples is not None:
            columns.append(samples)
            titles.append(f'{config}\n(seed {runs[0].run.seed})')
    if not columns:
        return None
    rows, size = min(len(c) for c in columns), columns[0].shape[1]
    labels, reals = _references(out, plan, results, rows, size)
    cells = [labels, reals] + [c[:rows] for c in columns]
    titles = ['label map', 'real'] + titles
    figure, axes = plt.subplots(rows, len(cells), figsize=(1.25 * len(cells), 1.25 * rows + 0.4), squeeze=False)
    for col, (images, title) in enumerate(zip(cells, titles)):
        axes[0, col].set_title(title, fontsize=7)
        for row in range(rows):
            axes[row, col].imshow(images[row], interpolation='nearest')
            axes[row, col].axis('off')
    _save(figure, path)
    return f'test scenes 0-{rows - 1}, last scored epoch'


def _references(out: str, plan: Plan, results: list[RunResult], count: int, size: int) -> tuple:
    """The test scenes' coloured label maps and real images, rendered as the loader does."""
    opt = _saved_options(out, results)
    seed = int(opt.get('synthetic_seed', 0))
    scenes = [render(i, size, seed, 'test') for i in range(count)]
    palette = np.array(SyntheticDataset.labels.colors, dtype=np.uint8)  # the painter's swatches
    return np.stack([palette[labels] for labels, _ in scenes]), np.stack([image for _, image in scenes])


def _saved_options(out: str, results: list[RunResult]) -> dict:
    for r in results:
        path = os.path.join(run_folder(out, r.run), 'opt.json')
        if os.path.isfile(path):
            with open(path, encoding='utf-8') as f:
                return json.load(f)
    return {}
