"""evaluate.py end to end on tiny folders of the built-in synthetic dataset."""
import errno
import json
import os
import re
import shutil
import struct
import zlib

import numpy as np
import pytest
from eval_helpers import inception_weights_file, write_images

import evaluate
from data import synthetic
from evaluation import fid_cache, report, run
from options.train_options import TrainOptions
from util import fileio
from util.entry import run_cli
from util.errors import OptionError


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
    assert saved['info']['segmenter'] == 'synthetic oracle'
    assert saved['info']['metrics'] == ['fid', 'miou', 'swd', 'texture']


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


def without(args: list, *options: str) -> list:
    """``args`` without the given options and their values."""
    out, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg in options:
            skip = True
        else:
            out.append(arg)
    return out


def test_missing_empty_or_misplaced_folders_name_the_option(folders, capsys):
    images = folders / 'images'
    (folders / 'empty').mkdir()
    write_images(str(folders / 'others'), [np.zeros((64, 64, 3), np.uint8)] * 8, [f'other_{i}' for i in range(8)])
    cases = [(['--fake_dir', str(folders / 'nowhere')], "--fake_dir '.*nowhere' does not exist: give the folder"),
             (['--real_dir', str(folders / 'empty')], "--real_dir '.*empty' contains no images .*; give the folder"),
             (['--label_dir', str(images / 'real_image' / 'scene_0.jpg')], "--label_dir '.*scene_0.jpg' is a file"),
             (['--real_dir', str(folders / 'others')],
              r'8 generated image.* no file of the same name in --real_dir: scene_0, .*; name each file like its '
              r'generated image \(the extension may differ\)$')]
    for replaced, message in cases:
        args = without(argv(folders), *replaced[::2]) + replaced
        assert re.search(message, run_expecting_error(args, capsys)), message


def test_a_missing_folder_option_is_named_whichever_is_given(folders, capsys):
    assert run_expecting_error(without(argv(folders), '--real_dir'), capsys).endswith(
        'the following arguments are required: --real_dir')
    assert run_expecting_error(without(argv(folders), '--fake_dir'), capsys).endswith(
        'the following arguments are required: --fake_dir')


def test_an_output_path_that_cannot_be_a_file_fails_before_the_evaluation(folders, capsys, monkeypatch):
    monkeypatch.setattr(run, 'evaluate_folders', lambda *a, **k: pytest.fail('evaluated for nothing'))
    (folders / 'a_file').write_text('')
    message = run_expecting_error(argv(folders, '--out', str(folders / 'images')), capsys)
    assert re.search(r"--out '.*images' is a folder, not a file: give the file to write with --out, e\.g\. "
                     r"--out .*images/metrics\.json$", message)
    message = run_expecting_error(argv(folders, '--out', str(folders / 'a_file' / 'sub' / 'm.json')), capsys)
    assert re.search(r"--out '.*m\.json' cannot be created: '.*a_file' is a file, not a folder; choose another file "
                     r"with --out$", message)
    (folders / 'images' / 'metrics.json').mkdir()  # where the default output goes
    message = run_expecting_error(argv(folders), capsys)
    assert re.search(r"the output file '.*images/metrics\.json' is a folder", message)


def test_a_full_disk_while_writing_metrics_json_is_one_line_and_leaves_no_file(folders, capsys, monkeypatch):
    def fills_up(path, text):
        with fileio.atomic_open(path, 'w') as handle:
            handle.write(text[:20])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(report, 'atomic_write_text', fills_up)
    with pytest.raises(SystemExit) as info:
        run_cli(lambda: evaluate.main(argv(folders, '--metrics', 'miou')), 'evaluate.py')
    out, err = capsys.readouterr()
    target = folders / 'images' / 'metrics.json'
    assert info.value.code == 2 and 'Traceback' not in err
    assert err.strip().splitlines()[-1] == (
        f'evaluate.py: error: {target}: cannot write the metrics, the disk is full; free some space or choose '
        f'another file with --out (the table above has the results)')
    assert 'mIoU' in out and 'metrics written' not in out
    assert sorted(os.listdir(folders / 'images')) == ['real_image', 'synthesized_image']  # no partial file


@pytest.mark.parametrize('damage', ['empty', 'truncated', 'bad header', 'bad data', 'decompression bomb'])
def test_corrupt_images_and_label_maps_are_named(folders, capsys, damage):
    for victim in ('images/synthesized_image/scene_2.png', 'images/real_image/scene_2.jpg', 'labels/scene_2.png'):
        original = (folders / victim).read_bytes()
        good = (folders / victim.replace('real_image', 'synthesized_image').replace('.jpg', '.png')).read_bytes()
        payload = {'empty': b'', 'truncated': good[:len(good) // 2], 'bad header': good[:29] + b'\x00' + good[30:],
                   'bad data': good[:60] + b'\x00' * 40 + good[100:], 'decompression bomb': png_header(30000, 30000)}
        (folders / victim).write_bytes(payload[damage])
        message = run_expecting_error(argv(folders), capsys)
        (folders / victim).write_bytes(original)
        what = 'label map' if victim.startswith('labels') else 'image'
        assert re.search(f"cannot read {what} '.*{victim}': .*; replace or remove the file$", message), message


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` pixels (Pillow refuses to decode so many)."""
    ihdr = struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0)
    chunk = b'IHDR' + ihdr
    return b'\x89PNG\r\n\x1a\n' + struct.pack('>I', len(ihdr)) + chunk + struct.pack('>I', zlib.crc32(chunk))


def test_label_values_the_dataset_cannot_hold_name_the_file(folders, capsys):
    label = np.zeros((64, 64), dtype=np.uint8)
    label[0, 0] = 9  # the synthetic dataset has classes 0..7 (8 = SPADE's dontcare)
    write_images(str(folders / 'labels'), [label], ['scene_5'])
    message = run_expecting_error(argv(folders), capsys)
    assert re.search(r"label map '.*scene_5.png': label value\(s\) 9 are not class indices 0\.\.7 .*--dataset_mode "
                     r"synthetic\); give that dataset's label files with --label_dir$", message)


def test_file_names_that_are_not_utf8_are_evaluated_and_shown_escaped(folders, capsys):
    # Linux allows any bytes in names; Python keeps undecodable ones as lone surrogates, which a
    # strict UTF-8 stdout (pytest's capture is one) cannot print
    odd = os.fsdecode(b'sc\xe9ne')
    root = folders / os.fsdecode(b'r\xe9sultats')
    for kind, ext in (('synthesized_image', '.png'), ('real_image', '.jpg')):
        shutil.copytree(folders / 'images' / kind, root / kind)
        os.rename(root / kind / f'scene_0{ext}', root / kind / f'{odd}{ext}')
    shutil.copytree(folders / 'labels', root / 'labels')
    os.rename(root / 'labels' / 'scene_0.png', root / 'labels' / f'{odd}.png')
    args = ['--fake_dir', str(root / 'synthesized_image'), '--real_dir', str(root / 'real_image'),
            '--label_dir', str(root / 'labels')] + without(argv(folders), '--fake_dir', '--real_dir', '--label_dir')
    results = evaluate.main(args)
    assert results['num_images'] == 8 and results['pixel_acc'] >= 0.95
    assert r'metrics written to ' in capsys.readouterr().out  # printed to a strict UTF-8 stream
    saved = json.loads((root / 'metrics.json').read_text(encoding='utf-8'))
    assert saved['info']['fake_dir'].endswith(r'r\xe9sultats/synthesized_image')
    os.rename(root / 'real_image' / f'{odd}.jpg', root / 'real_image' / 'other.jpg')
    assert run_expecting_error(args, capsys).endswith(r"no file of the same name in --real_dir: sc\xe9ne; name "
                                                      r"each file like its generated image (the extension may differ)")


@pytest.mark.parametrize('option, value, message', [
    ('--eval_batch_size', '0', 'argument --eval_batch_size: expected a positive integer'),
    ('--eval_batch_size', '-2', 'argument --eval_batch_size: expected a positive integer'),
    ('--swd_seed', '-1', 'argument --swd_seed: expected an integer >= 0'),
    ('--fid_dims', '100', 'argument --fid_dims: invalid choice'),
    ('--seg_scales', '0', "--seg_scales '0': expected positive integers")])
def test_bad_numbers_are_one_line(folders, capsys, option, value, message):
    assert message in run_expecting_error(argv(folders, option, value), capsys)


@pytest.mark.parametrize('option, value', [('--how_many', '0'), ('--how_many', '-3'), ('--batchSize', '0'),
                                           ('--eval_batch_size', '0')])
def test_bad_numbers_of_the_experiment_mode_are_one_line(tmp_path, capsys, option, value):
    message = run_expecting_error(['--name', 'never_trained', '--gpu_ids', '-1', '--checkpoints_dir',
                                   str(tmp_path), option, value], capsys)
    assert option in message


@pytest.mark.parametrize('value', ['0', '-1', 'many'])
def test_training_refuses_a_non_positive_eval_num(value):
    with pytest.raises(OptionError, match='--eval_num: expected a positive integer'):
        TrainOptions().parse(['--eval_num', value, '--gpu_ids', '-1'], save=False, verbose=False)


def test_fid_files_in_the_wrong_place_are_one_line(folders, capsys):
    (folders / 'a_file').write_text('')
    message = run_expecting_error(argv(folders, '--fid_cache_dir', str(folders / 'a_file')), capsys)
    assert re.search(r"--fid_cache_dir '.*a_file' is a file: give a folder, or '' to turn the cache off$", message)
    message = run_expecting_error(argv(folders, '--fid_weights', str(folders)), capsys)
    assert re.search(r"--fid_weights '.*' is a folder: give the file pt_inception-2015-12-05-6726825d.pth", message)


def test_a_cache_that_cannot_be_written_only_warns(folders, capsys, monkeypatch):
    def full(path, payload):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(fid_cache, 'atomic_write_bytes', full)
    with pytest.warns(UserWarning, match=r"FID statistics were not cached in '.*' \(No space left on device\)"):
        results = evaluate.main(without(argv(folders), '--label_dir') + ['--metrics', 'fid'])
    assert np.isfinite(results['fid'])


def test_miou_without_a_dataset_mode_says_which_option_is_missing(folders, capsys):
    args = without(argv(folders), '--dataset_mode') + ['--metrics', 'miou']
    assert 'mIoU needs --dataset_mode' in run_expecting_error(args, capsys)


def test_the_mode_word_is_optional(folders):
    explicit = evaluate.main(['folders'] + argv(folders, '--metrics', 'miou'))
    assert explicit == evaluate.main(argv(folders, '--metrics', 'miou'))


def help_text(args, capsys) -> str:
    with pytest.raises(SystemExit) as info:
        evaluate.main(args)
    assert info.value.code in (0, None)
    return capsys.readouterr().out


def test_help_describes_both_modes_and_each_mode_lists_its_options(capsys):
    overview = help_text(['--help'], capsys)
    for text in ('evaluate.py model', 'evaluate.py folders', '--name', '--which_epoch', '--fake_dir', '--real_dir',
                 '--label_dir', '--metrics', '--fid_weights', '--seg_weights', 'evaluate.py MODE --help'):
        assert text in overview, text
    assert help_text(['--fake_dir', 'a', '-h'], capsys) == overview  # without a mode word: the overview
    folder_help = help_text(['folders', '--help'], capsys)
    assert 'usage: evaluate.py folders' in folder_help and '--fake_dir' in folder_help
    assert '--fid_dims' in folder_help and '--which_epoch' not in folder_help
    model_help = help_text(['model', '--help'], capsys)
    assert 'usage: evaluate.py model' in model_help and '--which_epoch' in model_help
    assert '--fid_dims' in model_help and '--fake_dir' not in model_help


def test_options_of_the_other_mode_are_one_line_errors(folders, capsys, monkeypatch):
    monkeypatch.setattr(run, 'evaluate_folders', lambda *a, **k: pytest.fail('evaluated for nothing'))
    model_mode = "of 'evaluate.py model' (score a trained generator), not of the"
    assert run_expecting_error(argv(folders, '--name', 'x'), capsys).endswith(
        f"--name is an option {model_mode} folders mode (chosen by --fake_dir); see evaluate.py --help")
    assert run_expecting_error(['folders'] + argv(folders, '--which_epoch', '3', '--phase', 'val'), capsys).endswith(
        f"--which_epoch, --phase are options {model_mode} 'evaluate.py folders' mode; see evaluate.py --help")
    assert run_expecting_error(['model', '--name', 'x', '--fake_dir', 'a', '--gpu_ids', '-1'], capsys).endswith(
        "--fake_dir is an option of 'evaluate.py folders' (score image folders), not of the 'evaluate.py model' "
        "mode; see evaluate.py --help")


def test_a_misspelt_or_missing_mode_is_one_line(folders, capsys):
    assert run_expecting_error(['folder'] + argv(folders), capsys).endswith(
        "unknown mode 'folder': choose model or folders (see evaluate.py --help)")
    with pytest.raises(SystemExit) as info:
        run_cli(lambda: evaluate.main([]), 'evaluate.py')
    err = capsys.readouterr().err
    assert info.value.code == 2 and 'usage: evaluate.py model' in err
    assert err.strip().splitlines()[-1].startswith('evaluate.py: error: give a mode and its options')
