"""evaluate.py model (``evaluate.py --name`` without the mode word): generates the split with the
trained (EMA) generator and scores it, the same numbers training's --eval_freq logs."""
import json

import pytest

import evaluate
from helpers import tiny_args, tiny_test_args
from options.train_options import TrainOptions
from trainers.loop import train

SCORING = ('--synthetic_test_size', '6', '--fid_cache_dir', '', '--metrics', 'miou,swd')  # training's and evaluate's


def test_name_mode_matches_training_evaluation(tmp_path):
    args = tiny_args(tmp_path, 'run', *SCORING, '--synthetic_train_size', '4', '--perceptual_loss', 'patchnce',
                     '--ema', '--eval_freq', '1e', '--eval_num', '6')
    train(TrainOptions().parse(args, save=True, verbose=False))
    during = json.loads((tmp_path / 'run' / 'best_metrics.json').read_text())
    evaluated = tiny_test_args(tmp_path, 'run', *SCORING, '--results_dir', str(tmp_path / 'results'))
    results = evaluate.main(evaluated)
    assert results['miou'] == pytest.approx(during['miou'])
    assert results['pixel_acc'] == pytest.approx(during['pixel_acc'])
    assert results['num_images'] == 6
    written = json.loads((tmp_path / 'results' / 'run' / 'test_latest' / 'metrics.json').read_text())
    assert written['miou'] == pytest.approx(results['miou'])
    assert 'swd' in written and 'fid' not in written
    explicit = evaluate.main(['model'] + evaluated)
    assert explicit == results
