"""evaluate.py model (``evaluate.py --name`` without the mode word): generates the split with the
trained (EMA) generator and scores it, the same numbers training's --eval_freq logs."""
import json

import pytest

import evaluate
from options.train_options import TrainOptions
from trainers.loop import train


def tiny(root, *extra):
    return ['--name', 'run', '--checkpoints_dir', str(root), '--gpu_ids', '-1', '--crop_size', '32',
            '--load_size', '32', '--ngf', '4', '--norm_G', 'spectralspadebatch3x3', '--synthetic_test_size', '6',
            '--fid_cache_dir', '', '--metrics', 'miou,swd'] + list(extra)


def test_name_mode_matches_training_evaluation(tmp_path):
    args = tiny(tmp_path, '--ndf', '8', '--num_D', '1', '--n_layers_D', '2', '--batchSize', '2',
                '--synthetic_train_size', '4', '--niter', '1', '--vgg_weights', 'random', '--perceptual_loss',
                'patchnce', '--num_patches', '16', '--ema', '--eval_freq', '1e', '--eval_num', '6')
    train(TrainOptions().parse(args, save=True, verbose=False))
    during = json.loads((tmp_path / 'run' / 'best_metrics.json').read_text())
    results = evaluate.main(tiny(tmp_path, '--results_dir', str(tmp_path / 'results')))
    assert results['miou'] == pytest.approx(during['miou'])
    assert results['pixel_acc'] == pytest.approx(during['pixel_acc'])
    assert results['num_images'] == 6
    written = json.loads((tmp_path / 'results' / 'run' / 'test_latest' / 'metrics.json').read_text())
    assert written['miou'] == pytest.approx(results['miou'])
    assert 'swd' in written and 'fid' not in written
    explicit = evaluate.main(['model'] + tiny(tmp_path, '--results_dir', str(tmp_path / 'results')))
    assert explicit == results
