"""End to end: test.py on a tiny custom dataset (labels only, and labels + images)."""
import errno
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import REPO, files_under, run_test_py_cli, tiny_test_args
from models import networks
from options.test_options import TestOptions
from util import fileio, html
from inference.pipeline import run_inference

STEMS = ['a_01', 'b_02', 'c_03']


def write_custom_dataset(root, with_images: bool, size: int = 64):
    rng = np.random.default_rng(0)
    (root / 'labels').mkdir(parents=True)
    for i, stem in enumerate(STEMS):
        label = np.zeros((size, size), np.uint8)
        label[:, : size // 2] = i + 1
        label[size // 4: size // 2, size // 4:] = 4
        Image.fromarray(label).save(root / 'labels' / f'{stem}.png')
        if with_images:
            (root / 'images').mkdir(exist_ok=True)
            Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(root / 'images' / f'{stem}.jpg')


def cli_args(root, ckpt, results, with_images):
    args = tiny_test_args(ckpt, 'tiny', '--results_dir', str(results), '--dataset_mode', 'custom', '--label_dir',
                          str(root / 'labels'), '--label_nc', '5', '--no_instance', '--batchSize', '2',
                          crop=64)  # write_custom_dataset's size
    return args + (['--image_dir', str(root / 'images')] if with_images else [])


def save_random_generator(args, ckpt):
    opt = TestOptions().parse(args, verbose=False)
    torch.manual_seed(3)
    net = networks.define_G(opt, verbose=False)
    os.makedirs(ckpt / 'tiny', exist_ok=True)
    torch.save(net.state_dict(), ckpt / 'tiny' / 'latest_net_G.pth')  # as SPADE would
    return opt, net.eval()


@pytest.mark.parametrize('with_images', [False, True])
def test_test_py_writes_spade_layout(tmp_path, with_images):
    root, ckpt, results = tmp_path / 'data', tmp_path / 'ckpt', tmp_path / 'results'
    write_custom_dataset(root, with_images)
    args = cli_args(root, ckpt, results, with_images)
    _, net = save_random_generator(args, ckpt)
    proc = subprocess.run([sys.executable, 'test.py'] + args, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    web = results / 'tiny' / 'test_latest'
    assert (web / 'index.html').is_file()
    page = (web / 'index.html').read_text()
    for stem in STEMS:
        assert (web / 'images' / 'input_label' / f'{stem}.png').is_file()
        assert (web / 'images' / 'real_image' / f'{stem}.png').is_file() == with_images
        assert f'images/synthesized_image/{stem}.png' in page
    # the saved image is the generator's output for that label map, converted as SPADE does
    label = torch.from_numpy(np.array(Image.open(root / 'labels' / 'b_02.png'))).long()
    seg = torch.nn.functional.one_hot(label, 5).permute(2, 0, 1)[None].float()
    with torch.no_grad():
        expected = ((net(seg)[0].permute(1, 2, 0) + 1) / 2 * 255).clamp(0, 255).to(torch.uint8).numpy()
    saved = np.array(Image.open(web / 'images' / 'synthesized_image' / 'b_02.png'))
    assert saved.shape == (64, 64, 3)
    assert np.abs(saved.astype(int) - expected.astype(int)).max() <= 1


def test_how_many_and_determinism(tmp_path):
    root, ckpt = tmp_path / 'data', tmp_path / 'ckpt'
    write_custom_dataset(root, with_images=False)
    args = cli_args(root, ckpt, tmp_path / 'r1', False) + ['--how_many', '1']
    save_random_generator(args, ckpt)
    web = run_inference(TestOptions().parse(args, verbose=False))
    assert sorted(os.listdir(os.path.join(web, 'images', 'synthesized_image'))) == ['a_01.png']
    again = run_inference(TestOptions().parse(cli_args(root, ckpt, tmp_path / 'r2', False) + ['--how_many', '1'],
                                              verbose=False))
    first = open(os.path.join(web, 'images', 'synthesized_image', 'a_01.png'), 'rb').read()
    second = open(os.path.join(again, 'images', 'synthesized_image', 'a_01.png'), 'rb').read()
    assert first == second


def test_wrong_checkpoint_gives_one_line(tmp_path):
    root, ckpt = tmp_path / 'data', tmp_path / 'ckpt'
    write_custom_dataset(root, with_images=False)
    args = cli_args(root, ckpt, tmp_path / 'r', False)
    save_random_generator(args, ckpt)
    wrong = args + ['--ngf', '8']  # wider than the checkpoint's tiny generator (--ngf 4)
    proc = subprocess.run([sys.executable, 'test.py'] + wrong, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith('test.py: error:') and 'latest_net_G.pth' in last and '--ngf' in last


# ---------------------------------------------------------------------- bad input: one line, nothing lost
@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    """A random generator for cli_args' architecture, shared by the tests below."""
    ckpt = tmp_path_factory.mktemp('ckpt')
    save_random_generator(cli_args(ckpt, ckpt, ckpt, False), ckpt)
    return ckpt


@pytest.fixture
def run(tmp_path, checkpoint):
    """Runs test.py's main through its real entry wrapper; returns (exit status, stdout, stderr)."""
    def call(*extra, with_images=False, root=None):
        root = root or tmp_path / 'data'
        if not root.exists():
            write_custom_dataset(root, with_images)
        return run_test_py_cli(cli_args(root, checkpoint, tmp_path / 'results', with_images) + list(extra))
    return call


def error_line(err: str) -> str:
    line = err.strip().splitlines()[-1]
    assert line.startswith('test.py: error: ')
    return line


def write_label(path, value: int, size: int = 64):
    path.parent.mkdir(parents=True, exist_ok=True)
    label = np.full((size, size), value, np.uint8)
    label[: size // 2] = (value + 1) % 5
    Image.fromarray(label).save(path)


def test_same_name_in_sub_folders_keeps_the_sub_folders(tmp_path, run, checkpoint):
    root = tmp_path / 'data'
    for rel, value in [('a/x', 1), ('b/x', 3), ('y', 2)]:
        write_label(root / 'labels' / f'{rel}.png', value)
        (root / 'images' / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((64, 64, 3), value * 40, np.uint8)).save(root / 'images' / f'{rel}.jpg')
    code, out, _ = run(with_images=True, root=root)
    assert code == 0 and 'results keep their sub-folders' in out
    web = tmp_path / 'results' / 'tiny' / 'test_latest'
    written = files_under(web / 'images')
    assert sorted(written) == [f'{kind}/{rel}.png' for kind in ('input_label', 'real_image', 'synthesized_image')
                               for rel in ('a/x', 'b/x', 'y')]
    page = (web / 'index.html').read_text()
    assert all(f'images/{kind}/{rel}.png' in page for kind in ('input_label', 'real_image', 'synthesized_image')
               for rel in ('a/x', 'b/x', 'y'))
    # each result is that input's: a/x and b/x were not written over one another
    assert written['synthesized_image/a/x.png'] != written['synthesized_image/b/x.png']
    assert np.array(Image.open(web / 'images' / 'real_image' / 'b' / 'x.png'))[0, 0, 0] in range(118, 123)
    # and the layout is deterministic: a second run gives the same files and page
    os.rename(web, tmp_path / 'first')
    assert run(with_images=True, root=root)[0] == 0
    assert files_under(web) == files_under(tmp_path / 'first')


def test_unique_names_in_sub_folders_stay_flat_as_in_spade(tmp_path, run):
    root = tmp_path / 'data'
    write_label(root / 'labels' / 'a' / 'x.png', 1)
    write_label(root / 'labels' / 'b' / 'y.png', 2)
    assert run(root=root)[0] == 0
    names = sorted(files_under(tmp_path / 'results' / 'tiny' / 'test_latest' / 'images'))
    assert names == ['input_label/x.png', 'input_label/y.png', 'synthesized_image/x.png', 'synthesized_image/y.png']


def test_two_inputs_for_one_result_are_refused_before_writing(tmp_path, run):
    root = tmp_path / 'data'
    write_label(root / 'labels' / 'x.png', 1)
    write_label(root / 'labels' / 'x.bmp', 2)
    code, _, err = run(root=root)
    # the dataset or the result naming refuses it (tests/util/test_inference.py checks the latter)
    assert code == 2 and 'x.bmp' in error_line(err) and 'x.png' in error_line(err)
    assert not (tmp_path / 'results').exists()


def make_old_page(tmp_path) -> str:
    page = tmp_path / 'results' / 'tiny' / 'test_latest' / 'index.html'
    page.parent.mkdir(parents=True)
    page.write_text('old page')
    return page


@pytest.mark.parametrize('value', ['0', '-3'])
def test_how_many_below_one_is_refused_and_keeps_the_old_page(tmp_path, run, value):
    page = make_old_page(tmp_path)
    code, out, err = run('--how_many', value)
    assert code == 2 and error_line(err) == f'test.py: error: --how_many must be >= 1 (leave it out to run every ' \
                                            f'image), got {value}'
    assert page.read_text() == 'old page' and out == ''


def test_how_many_beyond_the_dataset_runs_all_and_says_so(tmp_path, run):
    code, out, _ = run('--how_many', '10')
    assert code == 0 and '--how_many 10 is more than the 3 samples of the dataset: running all 3' in out
    assert len(os.listdir(tmp_path / 'results' / 'tiny' / 'test_latest' / 'images' / 'synthesized_image')) == 3


@pytest.mark.parametrize('option', ['--batchSize', '--display_winsize'])
def test_zero_sizes_are_refused(run, option):
    code, _, err = run(option, '0')
    assert code == 2 and error_line(err) == f'test.py: error: {option} must be >= 1, got 0'


@pytest.mark.parametrize('blocked', ['results_dir', 'images', 'image_file', 'page'])
def test_something_in_the_way_of_the_results_is_one_line(tmp_path, run, blocked):
    web = tmp_path / 'results' / 'tiny' / 'test_latest'
    where = {'results_dir': tmp_path / 'results', 'images': web / 'images',
             'image_file': web / 'images' / 'synthesized_image' / 'b_02.png', 'page': web / 'index.html'}[blocked]
    where.parent.mkdir(parents=True, exist_ok=True)
    if blocked in ('results_dir', 'images'):
        where.write_text('a file')
    else:
        where.mkdir()
    before = files_under(tmp_path / 'results') if blocked != 'results_dir' else None
    code, _, err = run()
    line = error_line(err)
    assert code == 2 and f'{where}' in line and 'choose another --results_dir' in line
    if blocked != 'results_dir':  # refused before any result was written
        assert files_under(tmp_path / 'results') == before


def test_unwritable_results_dir_is_one_line(tmp_path, run, monkeypatch):
    real_makedirs = os.makedirs

    def read_only(path, *args, **kwargs):
        if str(path).startswith(str(tmp_path / 'results')):
            raise PermissionError(errno.EACCES, 'Permission denied', str(tmp_path / 'results'))
        return real_makedirs(path, *args, **kwargs)
    monkeypatch.setattr(os, 'makedirs', read_only)
    code, _, err = run()
    assert code == 2 and error_line(err) == (f'test.py: error: {tmp_path / "results"}: cannot write, permission '
                                             'denied; choose another --results_dir')


@pytest.mark.skipif(os.name != 'posix' or os.geteuid() == 0, reason='root writes into read-only folders')
def test_read_only_results_dir_is_one_line(tmp_path, run):
    (tmp_path / 'results').mkdir(mode=0o500)
    code, _, err = run()
    assert code == 2 and 'permission denied; choose another --results_dir' in error_line(err)


def test_full_disk_while_saving_an_image_names_it_and_keeps_the_old_one(tmp_path, run, monkeypatch):
    assert run()[0] == 0
    images = tmp_path / 'results' / 'tiny' / 'test_latest' / 'images'
    old = files_under(images)
    real_save, calls = Image.Image.save, []

    def fills_up(self, handle, **kwargs):  # the 2nd sample's first image hits a full disk
        calls.append(1)
        if len(calls) == 3:
            handle.write(b'\x89PNG half')
            raise OSError(errno.ENOSPC, 'No space left on device')
        return real_save(self, handle, **kwargs)
    monkeypatch.setattr(Image.Image, 'save', fills_up)
    code, _, err = run()
    page = images.parent / 'index.html'
    assert code == 2 and error_line(err) == (
        f'test.py: error: {images / "input_label" / "b_02.png"}: cannot write, the disk is full; free some space and '
        f'run again; stopped there: 1 of 3 results were written, {page} lists them')
    assert files_under(images) == old  # same bytes (same generator), no half file, no temporary left
    assert 'a_01.png' in page.read_text() and 'b_02.png' not in page.read_text()


def test_full_disk_while_writing_the_page_keeps_the_old_page(tmp_path, run, monkeypatch):
    page = make_old_page(tmp_path)

    def fills_up(path, text):
        with fileio.atomic_open(path, 'w') as handle:
            handle.write(text[:20])
            raise OSError(errno.ENOSPC, 'No space left on device')
    monkeypatch.setattr(html, 'atomic_write_text', fills_up)
    code, _, err = run()
    assert code == 2 and error_line(err) == (
        f'test.py: error: {page}: cannot write, the disk is full; free some space and run again (all 3 result '
        'images were written; the previous page, if any, is unchanged)')
    assert page.read_text() == 'old page' and os.listdir(page.parent) == ['images', 'index.html']


def test_missing_run_and_epoch_are_one_line(run, checkpoint):
    code, _, err = run('--name', 'nope')
    assert code == 2 and 'nope: no such run folder; check --name and --checkpoints_dir (runs there: tiny)' in err
    code, _, err = run('--which_epoch', '7')
    assert code == 2 and error_line(err).endswith('no generator for --which_epoch 7; choose one of the epochs '
                                                  'there: latest')


@pytest.mark.parametrize('threads', ['0', '1'])
def test_label_beyond_label_nc_names_the_file(tmp_path, run, threads):
    write_custom_dataset(tmp_path / 'data', with_images=False)
    write_label(tmp_path / 'data' / 'labels' / 'c_03.png', 9)  # the 2nd batch; --label_nc is 5
    code, _, err = run('--nThreads', threads)
    line = error_line(err)
    assert code == 2 and line.startswith(f'test.py: error: {tmp_path / "data" / "labels" / "c_03.png"}: label value')
    assert '--label_nc 5' in line and line.endswith('stopped there: 2 of 3 results were written, '
                                                    f'{tmp_path / "results" / "tiny" / "test_latest" / "index.html"} '
                                                    'lists them')


def test_empty_label_folder_is_one_line(tmp_path, run):
    (tmp_path / 'data' / 'labels').mkdir(parents=True)
    code, _, err = run()
    assert code == 2 and error_line(err) == f'test.py: error: {tmp_path / "data" / "labels" / "*"}: no files found'
    assert not (tmp_path / 'results').exists()


def test_results_over_the_inputs_are_refused(tmp_path, run):
    assert run()[0] == 0
    labels = tmp_path / 'results' / 'tiny' / 'test_latest' / 'images' / 'input_label'
    before = files_under(labels)
    # test.py run on its own colour pictures of the labels, writing next to them
    code, _, err = run('--label_dir', str(labels), '--label_nc', '5')
    assert code == 2 and f'{labels / "a_01.png"} is also an input of this run' in error_line(err)
    assert files_under(labels) == before


CTRL_C_AFTER_FOURTH_IMAGE = '''
import os, runpy, signal, sys
sys.path.insert(0, os.getcwd())
import util.util
save, calls = util.util.save_image, []
def save_then_ctrl_c(array, path):
    save(array, path)
    calls.append(path)
    if len(calls) == 4:  # the 2nd sample's label picture: one complete result so far
        os.kill(os.getpid(), signal.SIGINT)
util.util.save_image = save_then_ctrl_c
sys.argv = ['test.py'] + sys.argv[1:]
runpy.run_path('test.py', run_name='__main__')
'''


def test_ctrl_c_keeps_finished_results_and_exits_130(tmp_path, checkpoint):
    root = tmp_path / 'data'
    write_custom_dataset(root, with_images=True)
    args = cli_args(root, checkpoint, tmp_path / 'results', True)
    # started with Ctrl-C at its default, as from a terminal: a suite run in the background (cmd &)
    # passes SIGINT on ignored, and Python then never raises KeyboardInterrupt
    proc = subprocess.run([sys.executable, '-c', CTRL_C_AFTER_FOURTH_IMAGE] + args, cwd=REPO, capture_output=True,
                          text=True, timeout=300, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    web = tmp_path / 'results' / 'tiny' / 'test_latest'
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == ('test.py: interrupted: 1 of 3 results were written, '
                                                    f'{web / "index.html"} lists them')
    page = (web / 'index.html').read_text()
    assert 'a_01.png' in page and 'b_02.png' not in page and 'Traceback' not in proc.stderr
