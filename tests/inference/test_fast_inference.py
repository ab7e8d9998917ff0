"""Fast inference (test.py --amp, --channels_last, --nThreads, --write_threads) on a tiny trained
run: float32 results with loader workers and the background writer are byte-identical to the
default path, channels-last within a rounding, bf16 close; the writer keeps the order, its queue
bound and its errors (one line, earlier results intact); the options parse and are listed."""
import contextlib
import errno
import io
import json
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch
import torch.nn as nn
from PIL import Image

import data
import inference.pipeline as pipeline
from helpers import REPO, files_under, run_test_py_cli, tiny_args, tiny_test_args
from inference.writer import BackgroundWriter
from models import networks
from models.pix2pix_model import Pix2PixModel
from options.test_options import TestOptions
from options.train_options import TrainOptions
from trainers.loop import train
from util import fileio, util
from util.errors import OptionError

SAMPLES = 6  # three batches of two
KINDS = ('input_label', 'real_image', 'synthesized_image')


# ----------------------------------------------------------------------------- a tiny trained run
def amplify(path: str, opt) -> None:
    """Scales G's last convolution so that the image before tanh spreads over about [-2, 2]: a
    net trained for one iteration draws near-grey images, whose bytes would hide any change."""
    net = networks.define_G(opt, verbose=False)
    net.load_state_dict(torch.load(path, weights_only=True))
    last = [m for m in net.modules() if isinstance(m, nn.Conv2d)][-1]
    seen = []
    handle = last.register_forward_hook(lambda module, args, output: seen.append(output))
    batch = next(iter(data.create_dataloader(opt)))
    semantics = torch.zeros(2, opt.semantic_nc, opt.crop_size, opt.crop_size).scatter_(1, batch['label'][:2], 1.0)
    with torch.no_grad():
        net.eval()(semantics)
        handle.remove()
        scale = 2.0 / seen[0].std().item()
        last.weight.mul_(scale)
        last.bias.mul_(scale)
    torch.save(net.state_dict(), path)


@pytest.fixture(scope='module')
def run_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('runs')
    with contextlib.redirect_stdout(io.StringIO()):
        assert train(TrainOptions().parse(tiny_args(root, 'fast', '--no_vgg_loss', '--synthetic_train_size', '2'),
                                          save=True, verbose=False)) == 0
    opt = TestOptions().parse(cli_args(root, root / 'unused'), verbose=False)
    amplify(str(root / 'fast' / 'latest_net_G.pth'), opt)
    return root


def cli_args(root, results, *extra) -> list:
    """test.py on the synthetic test split, in batches of two."""
    return tiny_test_args(root, 'fast', '--results_dir', str(results), '--batchSize', '2', '--synthetic_test_size',
                          str(SAMPLES), *(str(a) for a in extra))


def web_of(results):
    return results / 'fast' / 'test_latest'


@pytest.fixture(scope='module')
def reference(run_root, tmp_path_factory):
    """The default path's files (float32, no workers, writing in the main loop)."""
    results = tmp_path_factory.mktemp('reference')
    assert run_test_py_cli(cli_args(run_root, results))[0] == 0
    files = files_under(web_of(results))
    assert len([f for f in files if f.startswith('images/')]) == 3 * SAMPLES
    return files


def pixels(payload: bytes) -> np.ndarray:
    return np.array(Image.open(io.BytesIO(payload))).astype(int)


# ----------------------------------------------------------------------------- float32: same bytes
class Spy:
    """Records what the run really did: the generator input's memory format, the loader's worker
    count, and the threads that saved images (so a setting that is ignored fails the test)."""

    def __init__(self, monkeypatch) -> None:
        self.formats, self.workers, self.threads = set(), [], set()
        real_loader, real_save, real_generate = data.create_dataloader, util.save_image, pipeline.generate

        def loader(opt, *args, **kwargs):
            made = real_loader(opt, *args, **kwargs)
            self.workers.append(made.num_workers)
            return made

        def save(array, path):
            self.threads.add(threading.current_thread() is threading.main_thread())
            return real_save(array, path)

        def generate(netG, netE, semantics, real):
            self.formats.add('channels_last' if semantics.is_contiguous(memory_format=torch.channels_last)
                             and not semantics.is_contiguous() else 'contiguous')
            return real_generate(netG, netE, semantics, real)
        monkeypatch.setattr(data, 'create_dataloader', loader)
        monkeypatch.setattr(util, 'save_image', save)
        monkeypatch.setattr(pipeline, 'generate', generate)


@pytest.mark.parametrize('extra', [
    ['--nThreads', '2'],
    ['--write_threads', '1'],
    ['--write_threads', '3'],
    ['--nThreads', '2', '--write_threads', '2'],
], ids=lambda extra: ' '.join(extra))
def test_float32_results_are_byte_identical_to_the_default_path(run_root, reference, tmp_path, monkeypatch, extra):
    spy = Spy(monkeypatch)
    code, out, _ = run_test_py_cli(cli_args(run_root, tmp_path, *extra))
    assert code == 0 and 'results written to' in out
    assert files_under(web_of(tmp_path)) == reference  # every image and the page, byte for byte
    # and the settings were in effect
    assert spy.workers == [2 if '--nThreads' in extra else 0]
    assert spy.threads == ({False} if '--write_threads' in extra else {True})
    assert spy.formats == set()  # the default path: SPADE's model(batch) call


def synthesized_differences(files: dict, reference: dict) -> np.ndarray:
    assert sorted(files) == sorted(reference)
    for name in files:  # the inputs' pictures and the page are not the generator's
        if not name.startswith('images/synthesized_image/'):
            assert files[name] == reference[name], name
    fake = [name for name in files if name.startswith('images/synthesized_image/')]
    return np.stack([np.abs(pixels(files[n]) - pixels(reference[n])) for n in fake])


def test_channels_last_in_float32_changes_at_most_a_rounding(run_root, reference, tmp_path, monkeypatch, capsys):
    """Not byte-identical in general: the CPU's (and cuDNN's) channels-last convolutions add in
    another order (SPADE's 128-channel mlp_shared differs in the 1e-9s already), and the
    uint8 conversion truncates, so a value near a level's edge can move by one."""
    spy = Spy(monkeypatch)
    code, _, _ = run_test_py_cli(cli_args(run_root, tmp_path, '--channels_last', '--nThreads', '2',
                                          '--write_threads', '2'))
    assert code == 0 and spy.formats == {'channels_last'}
    differences = synthesized_differences(files_under(web_of(tmp_path)), reference)
    with capsys.disabled():
        print(f'\nchannels_last vs default, float32: max {differences.max()} level, '
              f'{(differences > 0).sum()} of {differences.size} values differ')
    assert differences.max() <= 1 and (differences > 0).mean() < 1e-3


def test_bf16_runs_and_is_close(run_root, reference, tmp_path, capsys):
    code, _, _ = run_test_py_cli(cli_args(run_root, tmp_path, '--amp', 'bf16', '--channels_last',
                                          '--write_threads', '2'))
    assert code == 0
    differences = synthesized_differences(files_under(web_of(tmp_path)), reference)
    with capsys.disabled():
        print(f'\nbf16 vs float32 synthesized images: max {differences.max()} levels, mean {differences.mean():.3f}, '
              f'{(differences > 0).mean():.1%} of values differ')
    assert differences.max() > 0  # bf16 really ran
    assert differences.max() <= 16 and differences.mean() < 1.5


# ----------------------------------------------------------------------------- writer errors
def full_disk_on(calls: set, monkeypatch):
    """Image saves number ``calls`` (1-based, in the order they start) hit a full disk after
    writing half a file."""
    real_save, count, lock = Image.Image.save, [0], threading.Lock()

    def save(self, handle, **kwargs):
        with lock:
            count[0] += 1
            mine = count[0]
        if mine in calls:
            handle.write(b'\x89PNG half')
            raise OSError(errno.ENOSPC, 'No space left on device')
        return real_save(self, handle, **kwargs)
    monkeypatch.setattr(Image.Image, 'save', save)


def no_temporaries(folder) -> bool:
    return not [p for p in folder.rglob('*') if p.name.endswith('.tmp')]


@pytest.mark.parametrize('failing, written', [(4, 1), (3 * SAMPLES, SAMPLES - 1)],
                         ids=['second sample', 'last sample, found when finishing'])
def test_a_write_error_in_the_writer_is_test_py_s_one_line_and_keeps_the_earlier_results(
        run_root, reference, tmp_path, monkeypatch, failing, written):
    full_disk_on({failing}, monkeypatch)  # one thread: images are saved in order, 3 per sample
    code, _, err = run_test_py_cli(cli_args(run_root, tmp_path, '--write_threads', '1'))
    web = web_of(tmp_path)
    sample = f'{(failing - 1) // 3:06d}'
    kind = ('input_label', 'synthesized_image', 'real_image')[(failing - 1) % 3]
    assert code == 2 and err.strip().splitlines()[-1] == (
        f'test.py: error: {web / "images" / kind / sample}.png: cannot write, the disk is full; free some space and '
        f'run again; stopped there: {written} of {SAMPLES} results were written, {web / "index.html"} lists them')
    files = files_under(web)
    page = files.pop('index.html').decode()
    kept = [f'{i:06d}' for i in range(written)]
    assert all(files[name] == reference[name] for name in files)  # what was written is the default's bytes
    assert all(f'images/{kind}/{stem}.png' in files for kind in KINDS for stem in kept)
    assert [stem for stem in (f'{i:06d}' for i in range(SAMPLES)) if f'{stem}.png' in page] == kept
    assert no_temporaries(web)


def test_an_unwritable_folder_with_several_writer_threads(run_root, reference, tmp_path, monkeypatch):
    """The synthesized_image folder turns unwritable part-way; with three threads later samples
    may finish first: every result listed is complete, the rest are absent, the error is said."""
    real_mkstemp = fileio.tempfile.mkstemp
    started = []

    def mkstemp(*args, dir=None, **kwargs):
        if dir.endswith('synthesized_image'):
            started.append(1)
            if len(started) >= 3:
                raise PermissionError(errno.EACCES, 'Permission denied', dir)
        return real_mkstemp(*args, dir=dir, **kwargs)
    monkeypatch.setattr(fileio.tempfile, 'mkstemp', mkstemp)
    code, _, err = run_test_py_cli(cli_args(run_root, tmp_path, '--write_threads', '3', '--nThreads', '1'))
    web = web_of(tmp_path)
    line = err.strip().splitlines()[-1]
    assert code == 2 and line.startswith(f'test.py: error: {web / "images" / "synthesized_image"}')
    assert 'cannot write, permission denied; choose another --results_dir; stopped there: 2 of 6 results were ' \
           f'written, {web / "index.html"} lists them' in line
    files = files_under(web)
    page = files.pop('index.html').decode()
    listed = [f'{i:06d}' for i in range(SAMPLES) if f'synthesized_image/{i:06d}.png' in page]
    assert len(listed) == 2
    for stem in listed:
        assert all(files[f'images/{kind}/{stem}.png'] == reference[f'images/{kind}/{stem}.png'] for kind in KINDS)
    assert all(files[name] == reference[name] for name in files)
    assert no_temporaries(web)


def test_ctrl_c_with_the_writer_lists_what_was_finished(run_root, reference, tmp_path, monkeypatch):
    real_generate, calls = pipeline.generate_batch, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_generate(*args, **kwargs)
    monkeypatch.setattr(pipeline, 'generate_batch', interrupted)
    code, _, err = run_test_py_cli(cli_args(run_root, tmp_path, '--write_threads', '2'))
    web = web_of(tmp_path)
    files = files_under(web)
    page = files.pop('index.html').decode()
    listed = [f'{i:06d}' for i in range(SAMPLES) if f'synthesized_image/{i:06d}.png' in page]
    assert code == 130 and err.strip().splitlines()[-1] == (
        f'test.py: interrupted: {len(listed)} of {SAMPLES} results were written, {web / "index.html"} lists them')
    assert listed == ['000000', '000001', '000002', '000003']  # the two batches generated are written
    assert sorted(files) == sorted(f'images/{kind}/{stem}.png' for kind in KINDS for stem in listed)
    assert all(files[name] == reference[name] for name in files)


# ----------------------------------------------------------------------------- the writer itself
def test_writer_reports_in_submission_order_and_bounds_its_queue():
    done, release, running = [], threading.Event(), []

    def job(i):
        running.append(i)
        if i == 0:
            release.wait(10)  # the oldest job is the slowest
    writer = BackgroundWriter(threads=2, max_pending=3, on_done=done.append)
    for i in range(3):
        writer.submit(i, job, i)
    assert done == []  # job 0 still runs, so nothing is reported, though 1 and 2 may be done
    blocked = threading.Thread(target=writer.submit, args=(3, job, 3))
    blocked.start()
    blocked.join(0.3)
    assert blocked.is_alive() and 3 not in running  # the queue is full: the 4th waits for the oldest
    release.set()
    blocked.join(10)
    writer.finish()
    assert done == [0, 1, 2, 3]


def test_writer_errors_are_raised_by_the_caller_and_not_lost():
    done, go, started = [], threading.Event(), threading.Event()

    def job(i):
        started.set()
        go.wait(10)  # nothing finishes before every job is submitted
        if i == 1:
            raise OSError(errno.ENOSPC, 'No space left on device')
    writer = BackgroundWriter(threads=1, max_pending=10, on_done=done.append)
    writer.submit(0, job, 0)
    writer.submit(1, job, 1)
    go.set()
    with pytest.raises(OSError, match='No space'):  # the last job's error comes out at the end at the latest
        writer.finish()
    assert done == [0]
    # stop() after an error elsewhere: the successes are reported, the error returned
    done.clear()
    go.clear()
    writer = BackgroundWriter(threads=1, max_pending=10, on_done=done.append)
    for i in range(3):
        writer.submit(i, job, i)
    go.set()
    error = writer.stop(cancel=False)
    assert isinstance(error, OSError) and done == [0, 2]
    # with cancel, the jobs not started are dropped and never reported
    done.clear()
    go.clear()
    writer = BackgroundWriter(threads=1, max_pending=10, on_done=done.append)
    started.clear()
    for i in range(3):
        writer.submit(i, job, i)
    assert started.wait(10)  # job 0 runs, 1 and 2 wait in the queue
    threading.Timer(0.2, go.set).start()
    assert writer.stop() is None and done == [0]


# ----------------------------------------------------------------------------- options
def test_options_parse_and_are_listed_in_help(tmp_path):
    opt = TestOptions().parse(['--gpu_ids', '-1', '--amp', 'bf16', '--channels_last', '--nThreads', '3',
                               '--write_threads', '2'], verbose=False)
    assert (opt.amp, opt.channels_last, opt.nThreads, opt.write_threads) == ('bf16', True, 3, 2)
    default = TestOptions().parse(['--gpu_ids', '-1'], verbose=False)
    assert (default.amp, default.channels_last, default.nThreads, default.write_threads) == ('none', False, 0, 0)
    shown = subprocess.run([sys.executable, 'test.py', '--help'], cwd=REPO, capture_output=True, text=True,
                           timeout=300).stdout
    for option in ('--amp {none,bf16,fp16}', '--channels_last', '--nThreads', '--write_threads'):
        assert option in shown


@pytest.mark.parametrize('args, message', [
    (['--write_threads', '-1'], '--write_threads must be >= 0 (0: write in the main loop), got -1'),
    (['--amp', 'fp16'], '--amp fp16 needs a CUDA GPU (--gpu_ids); on the CPU use --amp bf16'),
    (['--amp', 'fp8'], "argument --amp: invalid choice: 'fp8' (choose from"),
    (['--nThreads', '-2'], '--nThreads must be >= 0, got -2'),
])
def test_bad_values_are_one_line(args, message):
    with pytest.raises(OptionError) as error:
        TestOptions().parse(['--gpu_ids', '-1'] + args, verbose=False)
    assert str(error.value).startswith(message)


def test_how_to_run_is_never_taken_from_the_training_options(run_root, tmp_path):
    """A run trained with --amp bf16 --channels_last is tested in float32 unless asked."""
    saved = json.loads((run_root / 'fast' / 'opt.json').read_text())
    saved.update(amp='bf16', channels_last=True)
    (tmp_path / 'fast').mkdir()
    (tmp_path / 'fast' / 'opt.json').write_text(json.dumps(saved))
    base = ['--name', 'fast', '--checkpoints_dir', str(tmp_path), '--load_from_opt_file', '--gpu_ids', '-1']
    opt = TestOptions().parse(base, verbose=False)
    assert (opt.amp, opt.channels_last, opt.ngf) == ('none', False, 4)  # what was trained is still read
    opt = TestOptions().parse(base + ['--amp', 'bf16', '--channels_last'], verbose=False)
    assert (opt.amp, opt.channels_last) == ('bf16', True)


def test_library_callers_keep_the_old_signatures(run_root, reference, tmp_path):
    """run_inference with a given model, and generated_batches without a precision, still write
    the default path's files."""
    opt = TestOptions().parse(cli_args(run_root, tmp_path), verbose=False)
    model = Pix2PixModel(opt)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        web = pipeline.run_inference(opt, model)
    assert files_under(web_of(tmp_path)) == reference and web == str(web_of(tmp_path))
    batch, fake = next(pipeline.generated_batches(model, data.create_dataloader(opt), 1))
    assert fake.shape == (1, 3, 32, 32) and fake.dtype == torch.float32
