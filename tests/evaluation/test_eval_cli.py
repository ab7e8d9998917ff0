"""evaluate.py end to end on tiny folders of the built-in synthetic dataset."""
import json

import numpy as np
import pytest
from eval_helpers import inception_weights_file, write_images

import evaluate
from data import synthetic
from util.entry import run_cli


@pytest.fixture
def folders(tmp_path):
    """8 test scenes: fakes are the 64-px renders (as if generated perfectly), reals the same
    scenes rendered at 128 px (resized to 64 by the evaluation), labels the 64-px label maps."""
    names = [f'scene_{i}' for i in range(8)]
    small = [synthetic.render(i, 64, 0, 'test') for i in range(8)]
    write_images(str(tmp_path / 'images' / 'synthesized_image'), [image for _, image in small], names)
    write_images(str(tmp_path / 'images' / 'real_image'), [synthetic.render(i, 128, 0, 'test')[1] for i in range(8)],
                 names, ext='.jpg')
    write_images(str(tmp_path / 'labels'), [label for label, _ in small], names)
    return tmp_path


def argv(root, *extra):
    return ['--fake_dir', str(root / 'images' / 'synthesized_image'), '--real_dir', str(root / 'images' / 'real_image'),
            '--label_dir', str(root / 'labels'), '--dataset_mode', 'synthetic', '--fid_weights',
            inception_weights_file(), '--fid_dims', '64', '--fid_cache_dir', str(root / 'cache'), '--gpu_ids', '-1',
            *extra]


def test_folder_mode_prints_the_table_and_writes_metrics_json(folders, capsys):
    results = evaluate.main(argv(folders))
    out = capsys.readouterr().out
    for row in ('FID', 'mIoU', 'pixel accuracy', 'SWD (x1e3, mean)', 'SWD 64px', 'SWD 16px'):
        assert row in out
    saved = json.loads((folders / 'images' / 'metrics.json').read_text())
    assert set(saved) >= {'fid', 'miou', 'pixel_acc', 'swd', 'swd_levels', 'num_images', 'info'}
    assert saved['num_images'] == 8 and set(saved['swd_levels']) == {'64', '32', '16'}
    assert saved['pixel_acc'] >= 0.95  # the oracle on ground-truth renders
    assert saved['fid'] == pytest.approx(results['fid']) and np.isfinite(saved['fid'])
    assert saved['info']['segmenter'] == 'synthetic oracle' and saved['info']['metrics'] == ['fid', 'miou', 'swd']


def test_out_and_metrics_choose_the_file_and_the_metrics(folders):
    out = folders / 'elsewhere' / 'scores.json'
    evaluate.main(argv(folders, '--metrics', 'miou', '--out', str(out)))
    saved = json.loads(out.read_text())
    assert 'miou' in saved and 'fid' not in saved and 'swd' not in saved
    assert not (folders / 'images' / 'metrics.json').exists()


def run_expecting_error(args, capsys) -> str:
    with pytest.raises(SystemExit) as info:
        run_cli(lambda: evaluate.main(args), 'evaluate.py')
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert 'Traceback' not in err
    last = err.strip().splitlines()[-1]  # after the progress bar, if the error came mid-run
    assert last.startswith('evaluate.py: error: ')
    return last


def test_unpaired_and_unreadable_files_are_one_line_errors(folders, capsys):
    (folders / 'images' / 'real_image' / 'scene_3.jpg').unlink()
    assert "no file of the same name in --real_dir: scene_3" in run_expecting_error(argv(folders), capsys)
    (folders / 'images' / 'real_image' / 'scene_3.jpg').write_bytes(b'garbage')
    assert "cannot read image" in run_expecting_error(argv(folders), capsys)


def test_option_errors_are_one_line(folders, capsys):
    assert '--metrics' in run_expecting_error(argv(folders, '--metrics', 'nope'), capsys)
    no_labels = [a for a in argv(folders) if a not in ('--label_dir', str(folders / 'labels'))]
    assert '--label_dir' in run_expecting_error(no_labels + ['--metrics', 'miou'], capsys)
    assert 'latest_net_G.pth' in run_expecting_error(['--name', 'never_trained', '--gpu_ids', '-1',
                                                      '--checkpoints_dir', str(folders / 'none')], capsys)
