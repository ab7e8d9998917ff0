"""experiments/learning_curve.py: the curves and sample grid of study runs, the epoch table's numbers
equal the run's scores, and a folder or epoch it cannot draw is one clear line."""
import json
import os

import numpy as np
import pytest
from PIL import Image

from experiments import learning_curve
from experiments.study_eval import METRICS_FILE, load_samples, read_results
from tests.experiments.quick_study import copy_of
from util.errors import OptionError


def test_both_figures_and_a_table_of_every_scored_epoch(finished_study, tmp_path, capsys):
    runs = [os.path.join(finished_study[0], 'runs', name) for name in ('vgg_s0', 'patchnce_s1')]
    learning_curve.main([*runs, '--out', str(tmp_path / 'fig'), '--epochs', '1,5', '--title', 'two runs'])
    curve = Image.open(tmp_path / 'fig' / 'learning_curve.png')
    assert curve.size == (1170, 324)  # 13 x 3.6 inches at 90 dpi
    grid = np.asarray(Image.open(tmp_path / 'fig' / 'learning_samples.png').convert('RGB'))
    first, last = load_samples(runs[0], 1), load_samples(runs[0], 5)
    count, size = first.shape[:2]
    assert grid.shape == (2 * 2 * size, 2 * count * size, 3)  # two epochs, each image at twice its size
    assert np.array_equal(grid[:2 * size:2, :2 * size:2], first[0])
    assert np.array_equal(grid[2 * size::2, -2 * size::2], last[-1])
    printed = capsys.readouterr().out
    for run in runs:
        lines = printed.split(f'{run}:\n\n')[1].splitlines()
        rows = read_results(run)
        assert len([line for line in lines[2:] if line.startswith('| ')]) >= len(rows)
        for line, row in zip(lines[2:], rows):
            assert line == (f"| {row['epoch']} | {row['total_images']:,} | {row['texture_error']:.3f} | "
                            f"{100 * row['miou']:.2f} | {row['swd']:.2f} |")


def test_a_texture_error_not_defined_is_nan_not_a_crash(finished_study, tmp_path):
    out = copy_of(finished_study[0], tmp_path)
    run = os.path.join(out, 'runs', 'vgg_s0')
    rows = read_results(run)
    rows[0]['texture_error'] = None  # as metrics.json writes a class-less texture score
    with open(os.path.join(run, METRICS_FILE), 'w') as f:
        f.writelines(json.dumps(row) + '\n' for row in rows)
    assert '| 1 | 2 | nan |' in learning_curve.epoch_table(run)
    learning_curve.plot_curves([run], str(tmp_path / 'c.png'), '')
    assert os.path.getsize(tmp_path / 'c.png') > 0


@pytest.mark.parametrize('folder, epochs, message', [
    ('empty', '1', r'holds no scored epochs \(no study_metrics.jsonl\)'),
    ('vgg_s0', '1,9', r'has no samples of epoch 9 \(study_samples/epoch_9.png\); --epochs can take 1, 2, 3, 4, 5'),
    ('vgg_s0', '1,x', "--epochs takes comma-separated epoch numbers, got '1,x'"),
])
def test_what_it_cannot_draw_is_refused_before_a_figure_is_written(finished_study, tmp_path, folder, epochs,
                                                                   message):
    run = os.path.join(finished_study[0], 'runs', folder)
    if folder == 'empty':
        run = str(tmp_path / 'empty')
        os.makedirs(run)
    with pytest.raises(OptionError, match=message):
        learning_curve.main([run, '--out', str(tmp_path / 'fig'), '--epochs', epochs])
    assert not os.path.exists(tmp_path / 'fig' / 'learning_curve.png')
