"""FID with pytorch-fid's network, on random He-initialised weights (no download)."""
import os
import subprocess
import sys
import urllib.error

import numpy as np
import pytest
import torch
from PIL import Image
from eval_helpers import inception_weights_file, random_images, write_images

from evaluation import fid
from evaluation.fid import (FID_WEIGHTS_FILE, FIDStats, fid_from_stats, inception_weights_available, load_inception,
                            stats_of_batches)
from evaluation.run import evaluate_folders
from evaluation.settings import EvalSettings
from util import util
from util.errors import CheckpointError, UserError

DIMS = 64  # the first pooling block: fast on CPU; both sides of each comparison use the same


@pytest.fixture(scope='module')
def features():
    return load_inception(inception_weights_file(), dims=DIMS)


def nchw(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(array).permute(0, 3, 1, 2)


@pytest.fixture(scope='module')
def two_sets(features):
    a, b = nchw(random_images(16, seed=0)), nchw(random_images(16, seed=1))
    return stats_of_batches(features, [a[:8], a[8:]]), stats_of_batches(features, [b])


def test_fid_of_a_set_with_itself_is_zero_and_fid_is_symmetric(two_sets):
    a, b = two_sets
    ab, ba = fid_from_stats(a, b), fid_from_stats(b, a)
    assert abs(fid_from_stats(a, a)) < 1e-6 * ab
    assert ab > 0
    assert ab == pytest.approx(ba, rel=1e-6)


def test_frechet_distance_matches_the_closed_form_for_diagonal_covariances():
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    var1, var2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 1.0])
    # |mu1-mu2|^2 + sum (sqrt(v1) - sqrt(v2))^2 = (1 + 0 + 4) + (1 + 1 + 4)
    value = fid_from_stats(FIDStats(mu1, np.diag(var1), 10), FIDStats(mu2, np.diag(var2), 10))
    assert value == pytest.approx(11.0)


def test_fid_equals_the_pytorch_fid_command(tmp_path):
    weights = inception_weights_file()
    fakes = write_images(str(tmp_path / 'fake'), random_images(16, seed=2))
    write_images(str(tmp_path / 'real'), random_images(16, seed=3))
    # the command always loads the weights through torch hub's cache: put ours there
    torch_home = tmp_path / 'torch_home'
    (torch_home / 'hub' / 'checkpoints').mkdir(parents=True)
    os.symlink(weights, torch_home / 'hub' / 'checkpoints' / FID_WEIGHTS_FILE)
    command = [sys.executable, '-m', 'pytorch_fid', str(tmp_path / 'fake'), str(tmp_path / 'real'),
               '--dims', str(DIMS), '--device', 'cpu', '--batch-size', '8', '--num-workers', '0']
    done = subprocess.run(command, env=dict(os.environ, TORCH_HOME=str(torch_home)), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    theirs = float(done.stdout.strip().split()[-1])

    settings = EvalSettings(fid_weights=weights, fid_dims=DIMS, fid_cache_dir='', metrics=('fid',), batch_size=8)
    ours = evaluate_folders(str(tmp_path / 'fake'), str(tmp_path / 'real'), settings=settings, progress=False)
    assert len(fakes) == ours['num_images'] == 16
    assert ours['fid'] == pytest.approx(theirs, rel=1e-5)


def test_generated_batches_give_the_statistics_of_their_saved_pngs(features, tmp_path):
    signed = torch.rand(6, 3, 40, 40) * 2 - 1
    paths = write_images(str(tmp_path), util.tensor2im(signed))  # what test.py saves
    from_memory = stats_of_batches(features, [signed[:4], signed[4:]])
    from_files = stats_of_batches(features, [nchw(np.stack([np.asarray(Image.open(p)) for p in paths]))])
    np.testing.assert_allclose(from_memory.mu, from_files.mu, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(from_memory.sigma, from_files.sigma, rtol=1e-4, atol=1e-8)


def test_weights_file_is_loaded_exactly(features):
    saved = torch.load(inception_weights_file(), weights_only=True)
    loaded = features.net.blocks[0][0].conv.weight  # Conv2d_1a_3x3
    torch.testing.assert_close(loaded, saved['Conv2d_1a_3x3.conv.weight'])
    assert features.weights_id.startswith(os.path.realpath(inception_weights_file()))


def test_no_weights_anywhere_is_a_clear_user_error(tmp_path, monkeypatch):
    monkeypatch.setenv('TORCH_HOME', str(tmp_path))

    def offline(*_args, **_kwargs):
        raise urllib.error.URLError('no network')
    monkeypatch.setattr(torch.hub, 'load_state_dict_from_url', offline)
    assert not inception_weights_available()
    with pytest.raises(UserError) as info:
        load_inception(dims=DIMS)
    message = str(info.value)
    assert FID_WEIGHTS_FILE in message and '--fid_weights' in message
    assert os.path.join(str(tmp_path), 'hub', 'checkpoints') in message
    assert fid.fid_inception.load_state_dict_from_url is not offline  # pytorch-fid left as it was


def test_a_missing_or_wrong_weights_file_is_refused(tmp_path):
    with pytest.raises(UserError, match='does not exist'):
        load_inception(str(tmp_path / 'absent.pth'), dims=DIMS)
    (tmp_path / 'text.pth').write_text('not a checkpoint')
    with pytest.raises(CheckpointError, match='cannot be read'):
        load_inception(str(tmp_path / 'text.pth'), dims=DIMS)
    state = torch.load(inception_weights_file(), weights_only=True)
    del state['Mixed_7c.branch_pool.conv.weight']
    torch.save(state, tmp_path / 'partial.pth')
    with pytest.raises(CheckpointError, match='Mixed_7c.branch_pool.conv.weight'):
        load_inception(str(tmp_path / 'partial.pth'), dims=DIMS)


def test_unsupported_dims_are_refused():
    with pytest.raises(UserError, match='--fid_dims'):
        load_inception(inception_weights_file(), dims=100)
