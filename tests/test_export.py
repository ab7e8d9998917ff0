"""export.py: a tiny trained run's generator as ONNX and TorchScript, checked here against the
generator test.py uses (``Pix2PixModel``), on inputs made by test.py's ``InputEncoder``."""
import contextlib
import io
import json
import os
import re
import sys
import warnings

import numpy as np
import onnxruntime
import pytest
import torch
import torch.nn as nn
from PIL import Image

import export as export_entry
from inference import export as library
from models.input_encoding import InputEncoder
from models.pix2pix_model import Pix2PixModel
from options.test_options import TestOptions
from options.train_options import TrainOptions
from tests.opt_factory import make_opt
from trainers.loop import train
from util import util
from util.entry import run_cli

from helpers import amplify, tiny_args

TOLERANCE = 1e-4
SIZE = 32  # tiny_args' crop
FAST = ('--no_vgg_loss', '--synthetic_train_size', '2')


# ----------------------------------------------------------------------------- tiny trained runs
def amplify_run(folder) -> None:
    """amplify() for every generator file of a run, by one factor per file."""
    opt = TestOptions().parse(['--name', os.path.basename(folder), '--checkpoints_dir', os.path.dirname(folder),
                               '--load_from_opt_file', '--gpu_ids', '-1'] + dataset_args(folder), verbose=False)
    from models import networks
    for name in os.listdir(folder):
        if name.endswith(('_net_G.pth', '_net_G_ema.pth')):
            net = networks.define_G(opt, verbose=False)
            net.load_state_dict(torch.load(os.path.join(folder, name), weights_only=True))
            net.eval()
            amplify(net, opt)
            torch.save(net.state_dict(), os.path.join(folder, name))


def dataset_args(folder) -> list:
    data = os.path.join(os.path.dirname(folder), 'data')
    if os.path.basename(folder) != 'instance':
        return []
    return ['--label_dir', os.path.join(data, 'labels'), '--instance_dir', os.path.join(data, 'instances')]


def write_instance_dataset(root, size: int = SIZE) -> list:
    """Two label maps with photos and instance maps (two objects of one class)."""
    rng = np.random.default_rng(0)
    for folder in ('labels', 'images', 'instances'):
        os.makedirs(os.path.join(root, folder))
    for i, stem in enumerate(['a', 'b']):
        label = np.zeros((size, size), np.uint8)
        label[:, size // 2:] = 2 + i
        instance = label * 10
        instance[: size // 2, size // 2:] += 1  # the class-2/3 half holds two objects
        Image.fromarray(label).save(os.path.join(root, 'labels', f'{stem}.png'))
        Image.fromarray(instance).save(os.path.join(root, 'instances', f'{stem}.png'))
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(
            os.path.join(root, 'images', f'{stem}.png'))
    return ['--dataset_mode', 'custom', '--label_dir', os.path.join(root, 'labels'), '--image_dir',
            os.path.join(root, 'images'), '--instance_dir', os.path.join(root, 'instances'), '--label_nc', '4']


def instance_args(root) -> list:
    data = write_instance_dataset(os.path.join(root, 'data'))
    args = tiny_args(root, 'instance')
    at = args.index('--synthetic_train_size')  # the synthetic dataset's option: not one of custom's
    return args[:at] + args[at + 2:] + data + ['--no_vgg_loss']


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    """Trained for one iteration each: 'plain' (with an EMA copy unlike G), 'vae' (--use_vae), and
    'instance' (a custom dataset with instance maps: one more input channel)."""
    root = tmp_path_factory.mktemp('runs')
    for args in (tiny_args(root, 'plain', *FAST, '--ema', '--ema_decay', '0.5'),
                 tiny_args(root, 'vae', *FAST, '--use_vae', '--z_dim', '8'),
                 instance_args(root)):
        with contextlib.redirect_stdout(io.StringIO()):
            assert train(TrainOptions().parse(args, save=True, verbose=False)) == 0
    for name in ('plain', 'vae', 'instance'):
        amplify_run(str(root / name))
    return root


def export_cli(*args) -> tuple[int, str, str]:
    """export.py's main through its real entry wrapper: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            run_cli(lambda: export_entry.main([str(a) for a in args]), 'export.py')
            code = 0
        except SystemExit as stop:
            code = stop.code
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope='module')
def exported(runs):
    """{(run, format): (exit status, stdout, stderr, path)}, each exported once for the tests below."""
    done = {}
    for name in ('plain', 'vae', 'instance'):
        for fmt in ('onnx', 'torchscript'):
            code, out, err = export_cli('--name', name, '--checkpoints_dir', runs, '--format', fmt)
            path = runs / name / 'export' / f'{"G_ema" if name == "plain" else "G"}_latest{library.FORMATS[fmt]}'
            done[name, fmt] = code, out, err, path
    return done


# ----------------------------------------------------------------------------- the reference
def reference_model(runs, name, *extra) -> Pix2PixModel:
    """The generator test.py would run for this run (the EMA copy unless --no_ema)."""
    args = ['--name', name, '--checkpoints_dir', str(runs), '--load_from_opt_file', '--gpu_ids', '-1']
    opt = TestOptions().parse(args + dataset_args(str(runs / name)) + list(extra), verbose=False)
    with contextlib.redirect_stdout(io.StringIO()):
        return Pix2PixModel(opt).eval()


def random_batch(model: Pix2PixModel, batch: int, seed: int) -> tuple:
    """(semantics, z or None) for random label (and instance) maps, encoded by test.py's InputEncoder."""
    opt = model.opt
    g = torch.Generator().manual_seed(seed)
    label = torch.randint(0, opt.label_nc, (batch, 1, SIZE, SIZE), generator=g)
    blocks = torch.randint(0, 5, (batch, 1, SIZE // 8, SIZE // 8), generator=g)
    instance = blocks.repeat_interleave(8, 2).repeat_interleave(8, 3).int()
    semantics, _ = InputEncoder(opt, 'cpu')({'label': label, 'instance': instance if not opt.no_instance else 0,
                                             'image': torch.zeros(batch, 3, SIZE, SIZE)})
    z = torch.randn(batch, opt.z_dim, generator=g) if opt.use_vae else None
    return semantics, z


def runner(path, fmt):
    """The exported file, run with onnxruntime or torch.jit.load, as a user would."""
    if fmt == 'onnx':
        session = onnxruntime.InferenceSession(str(path), providers=['CPUExecutionProvider'])
        names = [i.name for i in session.get_inputs()]
        return lambda *xs: torch.from_numpy(session.run(None, {n: x.numpy() for n, x in zip(names, xs)})[0])
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', FutureWarning)
        loaded = torch.jit.load(str(path))
    return lambda *xs: loaded(*xs).detach()


def max_difference(model: Pix2PixModel, run, batch: int, seed: int) -> float:
    semantics, z = random_batch(model, batch, seed)
    with torch.no_grad():
        expected = model.netG(semantics, z=z)
    got = run(*([semantics] + ([z] if z is not None else [])))
    assert got.shape == expected.shape == (batch, 3, SIZE, SIZE)
    assert expected.std() > 0.1  # amplified: a wrong graph cannot hide under the tolerance
    return (got - expected).abs().max().item()


# ----------------------------------------------------------------------------- exports match PyTorch
@pytest.mark.parametrize('fmt', ['onnx', 'torchscript'])
@pytest.mark.parametrize('name', ['plain', 'vae', 'instance'])
def test_export_matches_pytorch_at_batch_1_and_3(runs, exported, name, fmt):
    code, out, err, path = exported[name, fmt]
    assert code == 0, err
    assert path.is_file()
    # the CLI printed its own check
    line = next(l for l in out.splitlines() if l.startswith('max abs difference from PyTorch'))
    printed = dict((int(b), float(d)) for b, d in
                   (part.split(': ') for part in line.split('(float32): ')[1].split(' (tol')[0].replace('batch ', '')
                    .split(', ')))
    assert set(printed) == {1, 3} and max(printed.values()) <= TOLERANCE
    # and the file, run as a user runs it, matches the generator test.py uses
    model, run = reference_model(runs, name), runner(path, fmt)
    for batch in (1, 3):
        assert max_difference(model, run, batch, seed=10 + batch) <= TOLERANCE


@pytest.mark.parametrize('name, channels, z_dim', [('plain', 8, None), ('vae', 8, 8), ('instance', 5, None)])
def test_onnx_inputs_have_a_free_batch_and_the_run_s_size(exported, name, channels, z_dim):
    path = exported[name, 'onnx'][3]
    session = onnxruntime.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    inputs = {i.name: i.shape for i in session.get_inputs()}
    expected = {'semantics': ['batch', channels, SIZE, SIZE]}
    if z_dim:
        expected['z'] = ['batch', z_dim]
    assert inputs == expected
    assert [(o.name, o.shape) for o in session.get_outputs()] == [('image', ['batch', 3, SIZE, SIZE])]
    meta = json.loads(session.get_modelmeta().custom_metadata_map['spade_export'])
    assert meta['channels'] == channels and meta['z_dim'] == z_dim and meta['instance_edges'] == (name == 'instance')


def test_vae_export_uses_z(runs, exported):
    run = runner(exported['vae', 'onnx'][3], 'onnx')
    semantics, z = random_batch(reference_model(runs, 'vae'), 2, seed=0)
    assert (run(semantics, z) - run(semantics, -z)).abs().max() > 1e-2
    assert torch.allclose(run(semantics, z)[1:], run(semantics[1:], z[1:]), atol=TOLERANCE)  # no batch mixing


@pytest.mark.parametrize('name, fmt', [('plain', 'onnx'), ('instance', 'torchscript'), ('vae', 'onnx')])
def test_documented_program_runs_the_file_and_gives_test_py_s_image(runs, exported, tmp_path, monkeypatch,
                                                                    name, fmt):
    code, out, err, path = exported[name, fmt]
    assert code == 0, err
    pointer = out.split('to run it:\n', 1)[1]
    assert 'docs/export.md' in pointer and f'python {library.RUNNER_PROGRAM} {path}' in pointer.splitlines()[-1]
    snippet = documented_program()
    monkeypatch.setattr(sys, 'argv', [library.RUNNER_PROGRAM, str(path)])
    model = reference_model(runs, name)
    label = np.random.default_rng(1).integers(0, model.opt.label_nc, (SIZE, SIZE)).astype(np.uint8)
    Image.fromarray(label).save(tmp_path / 'label.png')
    instance = np.kron(np.random.default_rng(2).integers(0, 4, (4, 4)), np.ones((8, 8))).astype(np.uint8)
    Image.fromarray(instance).save(tmp_path / 'instance.png')
    monkeypatch.chdir(tmp_path)
    np.random.seed(5)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', FutureWarning)
        namespace = {}
        exec(compile(snippet, 'snippet', 'exec'), namespace)
    saved = np.array(Image.open(tmp_path / 'synthesized.png'))
    # what test.py would save for these maps
    np.random.seed(5)
    z = torch.from_numpy(np.random.randn(1, model.opt.z_dim).astype(np.float32)) if model.opt.use_vae else None
    batch = {'label': torch.from_numpy(label.astype(np.int64))[None, None],
             'instance': torch.from_numpy(instance.astype(np.int32))[None, None] if name == 'instance' else 0,
             'image': torch.zeros(1, 3, SIZE, SIZE)}
    semantics, _ = model.preprocess_input(batch)
    assert torch.equal(torch.from_numpy(namespace['semantics']), semantics)  # the snippet builds test.py's input
    with torch.no_grad():
        expected = util.tensor2im(model.netG(semantics, z=z))[0]
    assert saved.shape == expected.shape == (SIZE, SIZE, 3)
    assert np.abs(saved.astype(int) - expected.astype(int)).max() <= 1
    assert expected.std() > 10  # a picture, not a flat grey


def documented_program() -> str:
    """The program under "Running the file" in docs/export.md."""
    with open(os.path.join(os.path.dirname(export_entry.__file__), 'docs', 'export.md'), encoding='utf-8') as f:
        text = f.read()
    return re.search(r'^## Running the file$.*?^```python\n(.*?)^```$', text, re.S | re.M).group(1)


# ----------------------------------------------------------------------------- which generator
def test_ema_copy_by_default_and_raw_generator_with_no_ema(runs, exported):
    code, out, err, ema_path = exported['plain', 'onnx']
    assert code == 0, err
    assert ema_path.name == 'G_ema_latest.onnx' and 'using the EMA generator' in out
    code, out, err = export_cli('--name', 'plain', '--checkpoints_dir', runs, '--format', 'onnx', '--no_ema')
    assert code == 0, err
    raw_path = runs / 'plain' / 'export' / 'G_latest.onnx'
    assert f'exported {runs / "plain" / "latest_net_G.pth"} as onnx to {raw_path}' in out
    ema, raw = reference_model(runs, 'plain'), reference_model(runs, 'plain', '--no_ema')
    for path, model, other in ((ema_path, ema, raw), (raw_path, raw, ema)):
        run = runner(path, 'onnx')
        assert max_difference(model, run, 2, seed=3) <= TOLERANCE
        assert max_difference(other, run, 2, seed=3) > 1e-2  # the other generator's image differs


# ----------------------------------------------------------------------------- other architectures
def randomised(opt) -> nn.Module:
    """A random generator in eval mode, with batch-norm statistics far from (0, 1)."""
    from models import networks
    torch.manual_seed(0)
    net = networks.define_G(opt, verbose=False)
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    net.eval()
    amplify(net, opt)
    return net


@pytest.mark.parametrize('overrides', [
    dict(norm_G='spectralspadesyncbatch3x3'),
    dict(norm_G='spectralspadeinstance3x3', crop_size=64),  # instance norm needs more than the 1x1 map of crop 32
    dict(norm_G='spectralspadebatch3x3', use_vae=True, z_dim=8),  # the reshape hides the channels from the exporter
    dict(norm_G='spadeinstance5x5', no_instance=False, crop_size=64, aspect_ratio=2.0),
    dict(netG='pix2pixhd', norm_G='spectralinstance', resnet_n_blocks=1, resnet_n_downsample=2),
    dict(netG='pix2pixhd', norm_G='batch', resnet_n_blocks=1, resnet_n_downsample=2),
], ids=lambda o: '-'.join(str(v) for v in o.values()))
def test_generator_variants_export_to_onnx_exactly(overrides):
    opt = make_opt(**dict(dict(ngf=4, label_nc=5, crop_size=SIZE), **overrides))
    net = randomised(opt)
    u_before = [b.clone() for n, b in net.named_buffers() if n.endswith('weight_u')]
    spec = library.ModelSpec.from_opt(opt)
    _, run = library.export_generator(net, spec, 'onnx')
    generator = torch.Generator().manual_seed(7)
    for batch in (1, 3):
        inputs = library.random_inputs(spec, batch, generator)
        with torch.no_grad():
            expected = net(inputs[0], z=inputs[1] if spec.z_dim else None)
        assert expected.std() > 0.1
        assert (run(*inputs) - expected).abs().max().item() <= TOLERANCE
    # the export worked on a copy: the network keeps its mode, its spectral norm and the norm's vectors
    u_after = [b for n, b in net.named_buffers() if n.endswith('weight_u')]
    assert len(u_before) == len(u_after) and all(torch.equal(a, b) for a, b in zip(u_before, u_after))
    assert bool(u_after) == ('spectral' in opt.norm_G) and not any(m.training for m in net.modules())


def test_the_vae_image_encoder_exports_to_onnx_exactly():
    """What --backend onnxruntime runs for a style photo: real -> (mu, logvar), a free batch size."""
    from models import networks
    opt = make_opt(ngf=4, label_nc=5, crop_size=SIZE, use_vae=True, z_dim=8, norm_E='spectralinstance')
    torch.manual_seed(0)
    netE = networks.define_E(opt, verbose=False).eval()
    spec = library.ModelSpec.from_opt(opt)
    payload, run = library.export_encoder(netE, spec)
    assert (run.inputs, run.outputs) == (['real'], ['mu', 'logvar'])
    assert run.metadata()['z_dim'] == 8 and run.metadata()['inputs'] == ['real']
    differences = library.verify(library.ExportableEncoder(netE), run,
                                 lambda batch, g: library.random_photos(spec, batch, g), (1, 3), TOLERANCE,
                                 'ONNX image encoder', 'nowhere')
    assert sorted(differences) == [1, 3]
    photos = library.random_photos(spec, 2, torch.Generator().manual_seed(5))[0]
    mu, logvar = run(photos)
    assert mu.shape == logvar.shape == (2, 8) and (mu[0] - mu[1]).abs().max() > 1e-4  # the photo matters


def test_prepared_copy_has_spectral_norm_baked_in():
    net = randomised(make_opt(ngf=4, label_nc=5, crop_size=SIZE, norm_G='spectralspadebatch3x3'))
    prepared = library.prepare_for_export(net)
    names = {n for n, _ in prepared.named_parameters()} | {n for n, _ in prepared.named_buffers()}
    assert not any(n.endswith(('weight_orig', 'weight_u', 'weight_v')) for n in names)
    assert not any(m._forward_pre_hooks for m in prepared.modules())
    assert not prepared.training and not any(m.training for m in prepared.modules())
    seg = library.random_inputs(library.ModelSpec.from_opt(net.opt), 2, torch.Generator().manual_seed(0))[0]
    with torch.no_grad():
        assert (prepared(seg) - net(seg)).abs().max().item() <= 1e-6


# ----------------------------------------------------------------------------- failures
def test_a_model_that_differs_from_pytorch_is_refused_and_not_written(runs, monkeypatch):
    target = runs / 'plain' / 'export' / 'broken.pt'
    target.parent.mkdir(exist_ok=True)
    target.write_bytes(b'previous')
    prepare = library.prepare_for_export

    def off_by_a_little(netG):
        model = prepare(netG)
        with torch.no_grad():
            model.netG.conv_img.bias.add_(1e-2)
        return model
    monkeypatch.setattr(library, 'prepare_for_export', off_by_a_little)
    code, out, err = export_cli('--name', 'plain', '--checkpoints_dir', runs, '--format', 'torchscript',
                                '--output', target)
    assert code == 2
    assert err.strip().startswith('export.py: error: the exported torchscript model differs from PyTorch by ')
    assert f'nothing was written to {target} (' in err and len(err.strip().splitlines()) == 1
    own = float(re.search(r"PyTorch's own float32 result is (\S+) from float64", err)[1])
    assert 0 <= own < 1e-5  # the tiny net's rounding: far below the 1e-2 put in
    assert target.read_bytes() == b'previous'


def test_batch_check_sizes_are_the_ones_checked(runs, tmp_path):
    code, out, err = export_cli('--name', 'vae', '--checkpoints_dir', runs, '--format', 'torchscript',
                                '--batch_check', '2,5', '--output', tmp_path / 'g.pt')
    assert code == 0, err
    assert 'batch 2: ' in out and 'batch 5: ' in out and 'batch 1: ' not in out
    assert 'inputs: semantics (B, 8, 32, 32), z (B, 8); output: image (B, 3, 32, 32) in [-1, 1]' in out


def copy_run(runs, name, files) -> None:
    folder = runs / name
    folder.mkdir(exist_ok=True)
    for source, target in files.items():
        (folder / target).write_bytes((runs / 'plain' / source).read_bytes())


@pytest.mark.parametrize('args, words', [
    (['--name', 'nope'], r'nope: no such run folder; check --name and --checkpoints_dir \(runs there: .*plain'),
    (['--name', 'plain', '--format', 'tflite'],
     r"--format: invalid choice: 'tflite' \(choose from .*onnx.*torchscript"),
    (['--name', 'plain', '--which_epoch', '7'], r'7_net_G.pth not found: no generator for --which_epoch 7; '
                                                r'choose one of the epochs there: 1, latest$'),
    (['--name', 'emaonly', '--no_ema'], r'latest_net_G.pth not found: epoch latest has only the EMA generator .*'
                                        r'leave out --no_ema'),
    (['--name', 'noopts'], r'noopts/opt.json not found: export.py reads the generator\'s options'),
    (['--name', 'plain', '--output', '{tmp}'], r'--output .* is a folder; give the file to write'),
    (['--name', 'plain', '--output', '{tmp}/file/g.onnx'], r'file is a file, not a folder; choose another --output'),
    (['--name', 'plain', '--opset', '9'], r'--opset 9 is not supported: choose 11 to \d+'),
    (['--name', 'plain', '--batch_check', 'one'], r"--batch_check must be batch sizes >= 1 .*got 'one'"),
], ids=['missing run', 'unknown format', 'missing epoch', 'no_ema without G', 'no opt.json', 'output folder',
        'output under a file', 'opset', 'batch_check'])
def test_bad_input_gives_one_line(runs, tmp_path, args, words):
    copy_run(runs, 'emaonly', {'latest_net_G_ema.pth': 'latest_net_G_ema.pth', 'opt.json': 'opt.json'})
    copy_run(runs, 'noopts', {'latest_net_G.pth': 'latest_net_G.pth'})
    (tmp_path / 'file').write_text('x')
    before = sorted(p.name for p in (runs / 'plain').rglob('*'))
    code, out, err = export_cli('--checkpoints_dir', runs, *[a.format(tmp=tmp_path) for a in args])
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('export.py: error: '), err
    assert re.search(words, lines[0]), lines[0]
    assert sorted(p.name for p in (runs / 'plain').rglob('*')) == before  # nothing written


def test_help_lists_the_export_options_without_a_run(tmp_path):
    code, out, err = export_cli('--checkpoints_dir', tmp_path / 'none', '--help')
    assert code == 0, err
    for option in ('--format {onnx,torchscript}', '--output', '--opset', '--batch_check', '--no_ema', '--which_epoch'):
        assert option in out
    assert '--dataroot' not in out  # data options do not change the exported generator
