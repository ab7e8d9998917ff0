"""--backend torch|onnxruntime|auto for test.py, the painter and evaluate.py model, on tiny runs
with random (amplified) weights: the same files and page with both backends, float32 images
within one level of torch's; the ONNX cache beside the run, made once, reused, redone when the
checkpoint changes or the file is corrupt; the VAE's encoder with style photos; auto's rule."""
import contextlib
import errno
import io
import shlex
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

import evaluate
import inference.backends as backends
import inference.pipeline as pipeline
from inference.export import ExportError, OnnxRunner
from models.pix2pix_networks import Pix2PixNetworks
from options import opt_file
from options.test_options import TestOptions
from painter.engine import Painter
from runs import layout
from helpers import amplify, files_under, run_test_py_cli, tiny_test_args
from tests.painter.painter_helpers import scene_map
from util.errors import OptionError

SAMPLES = 4  # two batches of two


# ----------------------------------------------------------------------------- tiny runs, made once
def amplify_encoder(netE, opt) -> None:
    """Scales the encoder's mu so that it spreads over about N(0, 1) across photos: random
    weights give mu of about 1e-2, where the photo would hardly change the style."""
    photos = torch.rand(4, 3, opt.crop_size, opt.crop_size, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        mu, _ = netE.eval()(photos)
        scale = 1.0 / mu.std().item()
        netE.fc_mu.weight.mul_(scale)
        netE.fc_mu.bias.mul_(scale)


def make_run(root, name: str, *extra: str, crop: int = 32) -> None:
    """A run on the built-in dataset as train.py leaves one (latest_net_G/E.pth, opt.json), with
    random weights whose images use the whole range of levels."""
    args = tiny_test_args(root, name, '--batchSize', '2', '--synthetic_test_size', str(SAMPLES), *extra, crop=crop)
    options = TestOptions()
    opt = options.parse(args, verbose=False)
    torch.manual_seed(0)
    nets = Pix2PixNetworks(opt, training=False, verbose=False)
    amplify(nets.netG, opt)
    (root / name).mkdir()
    torch.save(nets.netG.state_dict(), root / name / 'latest_net_G.pth')
    if nets.netE is not None:
        amplify_encoder(nets.netE, opt)
        torch.save(nets.netE.state_dict(), root / name / 'latest_net_E.pth')
    opt_file.save(opt, options.parser)


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    """'plain' (32x32) and 'vae' (64x64, instance norm so that z shows, --use_vae --z_dim 8)."""
    root = tmp_path_factory.mktemp('backend_runs')
    make_run(root, 'plain')
    make_run(root, 'vae', '--norm_G', 'spectralspadeinstance3x3', '--use_vae', '--z_dim', '8', crop=64)
    return root


def run_args(runs, name: str, results, *extra) -> list:
    return ['--name', name, '--checkpoints_dir', str(runs), '--load_from_opt_file', '--gpu_ids', '-1',
            '--results_dir', str(results)] + [str(a) for a in extra]


def run_test_py_in_process(args) -> dict:
    code, out, err = run_test_py_cli(args)
    assert code == 0, err
    return out


def web_files(results, name: str) -> dict:
    return files_under(results / name / 'test_latest')


def level_differences(files: dict, reference: dict) -> np.ndarray:
    """|difference| of every synthesized value; every other file (inputs, photos, page) equal."""
    assert sorted(files) == sorted(reference)
    for path in files:
        if not path.startswith('images/synthesized_image/'):
            assert files[path] == reference[path], path
    fakes = [path for path in files if path.startswith('images/synthesized_image/')]
    assert len(fakes) == SAMPLES
    return np.stack([np.abs(pixels(files[p]) - pixels(reference[p])) for p in fakes])


def pixels(payload: bytes) -> np.ndarray:
    return np.array(Image.open(io.BytesIO(payload))).astype(int)


def mid_range(files: dict) -> float:
    """The share of synthesized values away from 0 and 255: a comparison of saturated images says little."""
    values = np.concatenate([pixels(v).ravel() for k, v in files.items() if 'synthesized' in k])
    return ((values > 10) & (values < 245)).mean()


@pytest.fixture(scope='module')
def torch_results(runs, tmp_path_factory):
    """test.py's files with --backend torch, for each run."""
    results = tmp_path_factory.mktemp('torch_results')
    for name in ('plain', 'vae'):
        run_test_py_in_process(run_args(runs, name, results, '--backend', 'torch'))
        assert not (runs / name / layout.ONNX_CACHE).exists()  # torch exports nothing
    return {name: web_files(results, name) for name in ('plain', 'vae')}


@pytest.fixture(scope='module')
def onnx_results(runs, torch_results, tmp_path_factory):
    """test.py's files with --backend onnxruntime, for each run (after torch's: the caches are made here)."""
    results = tmp_path_factory.mktemp('onnx_results')
    for name in ('plain', 'vae'):
        assert 'results written to' in run_test_py_in_process(run_args(runs, name, results, '--backend', 'onnxruntime'))
    return {name: web_files(results, name) for name in ('plain', 'vae')}


# ----------------------------------------------------------------------------- test.py
@pytest.mark.parametrize('name', ['plain', 'vae'])
def test_onnxruntime_writes_test_py_s_files_within_one_level(runs, torch_results, onnx_results, name, capsys):
    files = onnx_results[name]
    differences = level_differences(files, torch_results[name])
    with capsys.disabled():
        print(f'\n{name}: onnxruntime vs torch, float32: max {differences.max()} level, '
              f'{(differences > 0).sum()} of {differences.size} values differ, '
              f'{mid_range(files):.0%} of values in 11..244')
    assert mid_range(files) > 0.5
    assert (differences <= 1).mean() >= 0.999 and differences.max() <= 2
    labels = sorted(['G'] + (['E'] if name == 'vae' else []))  # with --use_vae the encoder runs in onnxruntime too
    assert sorted(p.name for p in (runs / name / layout.ONNX_CACHE).iterdir()) == \
        [f'latest_net_{label}.onnx' for label in labels]


def test_auto_is_onnxruntime_on_the_cpu_and_gives_its_files(runs, onnx_results, tmp_path):
    run_test_py_in_process(run_args(runs, 'plain', tmp_path))
    assert web_files(tmp_path, 'plain') == onnx_results['plain']


def test_the_vae_style_comes_from_the_photo_through_the_onnx_encoder(runs):
    """Two style photos give two images, each the torch backend's within a level; the painter's
    new-style seeds too (z drawn by torch, the generator run by onnxruntime)."""
    argv = ['--name', 'vae', '--checkpoints_dir', str(runs), '--gpu_ids', '-1']
    painters = {backend: Painter.from_argv(argv + ['--backend', backend]) for backend in ('torch', 'onnxruntime')}
    assert isinstance(painters['onnxruntime'].model.netE, backends.OnnxEncoder)
    labels = scene_map(64, 64)
    rng = np.random.default_rng(0)
    images = {}
    for photo in ('a', 'b'):
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buffer, format='PNG')
        for backend, painter in painters.items():
            key = painter.upload_photo(buffer.getvalue(), f'{photo}.png')['photo']
            images[backend, photo] = painter.synthesize(labels, photo=key).astype(int)
    for backend, painter in painters.items():
        images[backend, 'seed'] = painter.synthesize(labels, style_seed=5).astype(int)
    for style in ('a', 'b', 'seed'):
        difference = np.abs(images['torch', style] - images['onnxruntime', style])
        assert (difference <= 1).mean() >= 0.999, style
    assert np.abs(images['onnxruntime', 'a'] - images['onnxruntime', 'b']).mean() > 5  # the photo sets the style


# ----------------------------------------------------------------------------- the cache
class ExportSpy:
    def __init__(self, monkeypatch) -> None:
        self.calls = 0
        real = backends.export_checked_generator

        def counting(*args, **kwargs):
            self.calls += 1
            return real(*args, **kwargs)
        monkeypatch.setattr(backends, 'export_checked_generator', counting)


def inference(runs, name, results, *extra) -> str:
    opt = TestOptions().parse(run_args(runs, name, results, *extra), verbose=False)
    with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.redirect_stderr(io.StringIO()):
        pipeline.run_inference(opt)
    return out.getvalue()


def own_copy(runs, tmp_path, cached: bool):
    """A copy of 'plain' (with its cache or without), for tests that change its files."""
    shutil.copytree(runs / 'plain', tmp_path / 'ckpt' / 'plain',
                    ignore=None if cached else shutil.ignore_patterns(layout.ONNX_CACHE))
    return tmp_path / 'ckpt'


@pytest.fixture
def own_run(runs, tmp_path):
    return own_copy(runs, tmp_path, cached=False)


def test_the_cache_is_made_once_reused_and_redone_when_the_checkpoint_changes(own_run, tmp_path, monkeypatch):
    spy = ExportSpy(monkeypatch)
    cache = own_run / 'plain' / layout.ONNX_CACHE / 'latest_net_G.onnx'
    out = inference(own_run, 'plain', tmp_path / 'r1')
    assert spy.calls == 1 and cache.is_file() and 'exporting the generator' in out
    made = cache.stat().st_mtime_ns
    out = inference(own_run, 'plain', tmp_path / 'r2')
    assert spy.calls == 1 and cache.stat().st_mtime_ns == made and 'exporting' not in out
    assert web_files(tmp_path / 'r2', 'plain') == web_files(tmp_path / 'r1', 'plain')
    # a retrained epoch under the same name: other weights, so the cached file is stale
    checkpoint = own_run / 'plain' / 'latest_net_G.pth'
    state = torch.load(checkpoint, weights_only=True)
    state['conv_img.bias'] += 0.5
    torch.save(state, checkpoint)
    out = inference(own_run, 'plain', tmp_path / 'r3')
    assert spy.calls == 2 and 'was exported from other weights' in out and cache.stat().st_mtime_ns != made
    assert not list(cache.parent.glob('*.tmp'))  # written through a temporary file and a rename
    inference(own_run, 'plain', tmp_path / 'r4', '--backend', 'torch')
    differences = level_differences(web_files(tmp_path / 'r3', 'plain'), web_files(tmp_path / 'r4', 'plain'))
    assert (differences <= 1).mean() >= 0.999  # the new weights' images, not the old file's
    assert level_differences(web_files(tmp_path / 'r3', 'plain'), web_files(tmp_path / 'r1', 'plain')).max() > 10


@pytest.mark.parametrize('damage', ['garbage', 'truncated'])
def test_a_corrupt_cache_file_is_exported_again(runs, onnx_results, tmp_path, monkeypatch, damage):
    ckpt = own_copy(runs, tmp_path, cached=True)
    cache = ckpt / 'plain' / layout.ONNX_CACHE / 'latest_net_G.onnx'
    payload = cache.read_bytes()
    cache.write_bytes(b'not an onnx file' if damage == 'garbage' else payload[: len(payload) // 2])
    spy = ExportSpy(monkeypatch)
    out = inference(ckpt, 'plain', tmp_path / 'again')
    assert spy.calls == 1 and 'cannot be read' in out and 'exporting it again' in out
    assert cache.read_bytes() == payload  # the export is deterministic: the same file again
    assert web_files(tmp_path / 'again', 'plain') == onnx_results['plain']


def test_a_run_folder_that_cannot_be_written_runs_from_memory(own_run, tmp_path, monkeypatch):
    def read_only(path, payload):
        raise OSError(errno.EROFS, 'Read-only file system', path)
    monkeypatch.setattr(backends, 'atomic_write_bytes', read_only)
    out = inference(own_run, 'plain', tmp_path / 'r')
    assert 'cannot save the ONNX copy (Read-only file system); running it from memory' in out
    assert not (own_run / 'plain' / layout.ONNX_CACHE / 'latest_net_G.onnx').exists()
    assert len([f for f in web_files(tmp_path / 'r', 'plain') if 'synthesized' in f]) == SAMPLES


# ----------------------------------------------------------------------------- the painter, evaluate.py
def test_the_painter_with_onnxruntime_gives_test_py_s_image(runs, onnx_results, tmp_path):
    painter = Painter.from_argv(['--name', 'plain', '--checkpoints_dir', str(runs), '--gpu_ids', '-1',
                                 '--backend', 'onnxruntime'])
    assert painter.backend == 'onnxruntime' and painter.info()['backend'] == 'onnxruntime'
    labels = scene_map(32, 32)
    image = painter.synthesize(labels)
    (tmp_path / 'maps').mkdir()
    Image.fromarray(labels).save(tmp_path / 'maps' / 'painted.png')
    # the command the page shows, in this process (the painter's thread count, so the same float sums)
    words = shlex.split(painter.test_command().replace('DIR', shlex.quote(str(tmp_path / 'maps'))))
    assert words[:2] == ['python', 'test.py'] and words[words.index('--backend') + 1] == 'onnxruntime'
    run_test_py_in_process(words[2:] + ['--gpu_ids', '-1', '--results_dir', str(tmp_path / 'results')])
    expected = web_files(tmp_path / 'results', 'plain')['images/synthesized_image/painted.png']
    assert np.array_equal(image, pixels(expected))


def test_evaluate_model_mode_takes_the_backend(runs, tmp_path, monkeypatch):
    calls = []
    real = backends.OnnxGenerator.forward
    monkeypatch.setattr(backends.OnnxGenerator, 'forward', lambda self, *a, **k: calls.append(1) or real(self, *a, **k))
    results = {}
    for backend in ('torch', 'onnxruntime'):
        before = len(calls)
        argv = run_args(runs, 'plain', tmp_path, '--metrics', 'swd', '--fid_cache_dir', '', '--backend', backend)
        results[backend] = evaluate.main(['model'] + argv)
        assert (len(calls) > before) == (backend == 'onnxruntime')
        assert results[backend]['info']['backend'] == backend
    assert results['onnxruntime']['num_images'] == results['torch']['num_images'] == SAMPLES
    assert results['onnxruntime']['swd'] == pytest.approx(results['torch']['swd'], rel=1e-3)


# ----------------------------------------------------------------------------- auto's rule, options, threads
def opt_with(**values):
    import argparse
    return argparse.Namespace(**dict(dict(backend='auto', gpu_ids=[], amp='none', channels_last=False), **values))


@pytest.mark.parametrize('values, expected', [
    ({}, 'onnxruntime'),
    ({'backend': 'torch'}, 'torch'),
    ({'backend': 'onnxruntime'}, 'onnxruntime'),
    ({'gpu_ids': [0]}, 'torch'),
    ({'amp': 'bf16'}, 'torch'),
    ({'channels_last': True}, 'torch'),
], ids=['cpu', 'torch', 'onnxruntime', 'cuda', 'amp', 'channels_last'])
def test_auto_picks_onnxruntime_on_the_cpu_only_where_it_can_run(values, expected):
    assert backends.choose_backend(opt_with(**values)) == expected


def test_without_the_packages_auto_says_so_and_uses_torch(monkeypatch):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, 'find_spec', lambda name, *a: None if name == 'onnxruntime' else real(name, *a))
    said = []
    assert backends.choose_backend(opt_with(), said.append) == 'torch'
    assert said == ['--backend auto: running with torch (onnxruntime not installed; pip install onnx onnxruntime '
                    'for faster CPU inference)']
    with pytest.raises(ExportError, match=r'^--backend onnxruntime needs onnxruntime: pip install onnx onnxruntime$'):
        backends.choose_backend(opt_with(backend='onnxruntime'))


def test_an_export_failure_falls_back_to_torch_with_auto_and_is_one_line_otherwise(own_run, tmp_path, monkeypatch):
    def refuses(*args, **kwargs):
        raise ExportError('onnx cannot export the generator: RuntimeError: unsupported operator')
    monkeypatch.setattr(backends, 'export_generator', refuses)
    out = inference(own_run, 'plain', tmp_path / 'auto')
    assert '--backend auto: running with torch (onnx cannot export the generator: RuntimeError' in out
    inference(own_run, 'plain', tmp_path / 'torch', '--backend', 'torch')
    assert web_files(tmp_path / 'auto', 'plain') == web_files(tmp_path / 'torch', 'plain')
    code, _, err = run_test_py_cli(run_args(own_run, 'plain', tmp_path / 'explicit', '--backend', 'onnxruntime'))
    assert code == 2
    assert err.strip() == 'test.py: error: onnx cannot export the generator: RuntimeError: unsupported operator'


@pytest.mark.parametrize('args, message', [
    (['--amp', 'bf16'], '--backend onnxruntime runs the float32 generator on the CPU, so it cannot honour --amp bf16; '
                        'use --backend torch (or auto, which picks torch there)'),
    (['--channels_last'], 'so it cannot honour --channels_last;'),
])
def test_torch_only_options_with_onnxruntime_are_one_line(args, message):
    with pytest.raises(OptionError) as error:
        TestOptions().parse(['--gpu_ids', '-1', '--backend', 'onnxruntime'] + args, verbose=False)
    assert message in str(error.value)


def test_backend_is_never_taken_from_a_saved_opt_json(runs, tmp_path):
    saved = (runs / 'plain' / 'opt.json').read_text().replace('"backend": "auto"', '"backend": "torch"')
    assert '"backend": "torch"' in saved
    (tmp_path / 'plain').mkdir()
    (tmp_path / 'plain' / 'opt.json').write_text(saved)
    base = ['--name', 'plain', '--checkpoints_dir', str(tmp_path), '--load_from_opt_file', '--gpu_ids', '-1']
    assert TestOptions().parse(base, verbose=False).backend == 'auto'


@pytest.mark.parametrize('threads', [1, 2])
def test_onnxruntime_threads_follow_torch_s(runs, onnx_results, threads):
    cache = runs / 'plain' / layout.ONNX_CACHE / 'latest_net_G.onnx'
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        runner = OnnxRunner(str(cache))
    finally:
        torch.set_num_threads(before)
    options = runner.session.get_session_options()
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (threads, 1)


def test_an_onnx_copy_that_differs_from_pytorch_is_refused_and_not_cached(own_run, tmp_path, monkeypatch):
    monkeypatch.setattr(backends, 'CACHE_TOLERANCE', -1.0)  # any difference, even 0, is too much
    code, _, err = run_test_py_cli(run_args(own_run, 'plain', tmp_path, '--backend', 'onnxruntime'))
    cache = own_run / 'plain' / layout.ONNX_CACHE / 'latest_net_G.onnx'
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith('test.py: error: the exported ONNX generator differs from PyTorch by ')
    assert f'nothing was written to {cache} (' in err and err.strip().endswith('; run it with --backend torch)')
    assert not cache.exists()
