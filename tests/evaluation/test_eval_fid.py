"""FID with pytorch-fid's network, on random He-initialised weights (no download), and our
Fréchet distance against closed forms and independent square roots."""
import os
import urllib.error
import warnings

import numpy as np
import pytest
import scipy.linalg
import torch
from PIL import Image
from eval_helpers import inception_weights_file, random_images, write_images

from evaluation import fid, fid_cache
from evaluation.fid import (FID_WEIGHTS_FILE, FIDStats, fid_from_stats, frechet_distance, inception_weights_available,
                            load_inception, stats_of_batches)
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
    assert value == pytest.approx(11.0, rel=1e-12)


def test_frechet_distance_is_rotation_invariant_and_exact_for_singular_covariances():
    # a rank-2 covariance in 4 dimensions, rotated: the distance to N(0, I) is still computable by
    # hand, sum over eigenvalues (sqrt(l) - 1)^2 = (3-1)^2 + (2-1)^2 + 1 + 1
    rotation, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(4, 4)))
    singular = rotation @ np.diag([9.0, 4.0, 0.0, 0.0]) @ rotation.T
    assert frechet_distance(np.zeros(4), singular, np.zeros(4), np.eye(4)) == pytest.approx(7.0, rel=1e-10)
    assert frechet_distance(np.ones(4), singular, np.ones(4), singular) == pytest.approx(0.0, abs=1e-12)


def random_spd(rng: np.random.Generator, dims: int) -> np.ndarray:
    factor = rng.normal(size=(dims, dims))
    return factor @ factor.T / dims + 0.1 * np.eye(dims)


def trace_sqrt_by_denman_beavers(product: np.ndarray, steps: int = 60) -> float:
    """tr(product^(1/2)) by the Denman-Beavers iteration, a second way independent of ours."""
    y, z = product.copy(), np.eye(len(product))
    for _ in range(steps):
        y, z = (y + np.linalg.inv(z)) / 2, (z + np.linalg.inv(y)) / 2
    return float(np.trace(y))


@pytest.mark.parametrize('dims', [2, 7, 32])
def test_frechet_distance_matches_an_independent_matrix_square_root(dims):
    rng = np.random.default_rng(dims)
    mu1, mu2 = rng.normal(size=dims), rng.normal(size=dims)
    sigma1, sigma2 = random_spd(rng, dims), random_spd(rng, dims)
    expected = (np.sum((mu1 - mu2) ** 2) + np.trace(sigma1) + np.trace(sigma2)
                - 2 * trace_sqrt_by_denman_beavers(sigma1 @ sigma2))
    assert frechet_distance(mu1, sigma1, mu2, sigma2) == pytest.approx(expected, rel=1e-9)
    # and SciPy's sqrtm, called without the keyword SciPy 1.18 removed
    with_scipy = (np.sum((mu1 - mu2) ** 2) + np.trace(sigma1) + np.trace(sigma2)
                  - 2 * np.trace(scipy.linalg.sqrtm(sigma1 @ sigma2)).real)
    assert frechet_distance(mu1, sigma1, mu2, sigma2) == pytest.approx(with_scipy, rel=1e-8)
    assert frechet_distance(mu1, sigma1, mu2, sigma2) == pytest.approx(frechet_distance(mu2, sigma2, mu1, sigma1),
                                                                       rel=1e-10)


def test_frechet_distance_never_calls_scipy_sqrtm(monkeypatch):
    def removed(*_args, **_kwargs):
        raise TypeError("sqrtm() got an unexpected keyword argument 'disp'")
    monkeypatch.setattr(scipy.linalg, 'sqrtm', removed)
    stats = FIDStats(np.zeros(3), np.eye(3), 10)
    assert fid_from_stats(stats, FIDStats(np.ones(3), np.eye(3), 10)) == pytest.approx(3.0)


def test_frechet_distance_refuses_non_finite_or_mismatched_statistics():
    good = FIDStats(np.zeros(2), np.eye(2), 10)
    with pytest.raises(UserError, match='NaN'):
        fid_from_stats(good, FIDStats(np.array([0.0, np.nan]), np.eye(2), 10))
    with pytest.raises(UserError, match='dimensions'):
        fid_from_stats(good, FIDStats(np.zeros(3), np.eye(3), 10))


def test_frechet_distance_agrees_with_pytorch_fid_where_it_runs():
    from pytorch_fid.fid_score import calculate_frechet_distance
    rng = np.random.default_rng(5)
    acts1, acts2 = rng.normal(size=(40, 16)), rng.normal(0.3, 1.2, size=(40, 16))
    stats = [(a.mean(0), np.cov(a, rowvar=False)) for a in (acts1, acts2)]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            theirs = calculate_frechet_distance(*stats[0], *stats[1])
    except TypeError as exc:  # SciPy >= 1.18 has no sqrtm(disp=...): the reason we have our own
        pytest.skip(f'pytorch-fid cannot compute the distance with this SciPy: {exc}')
    assert frechet_distance(*stats[0], *stats[1]) == pytest.approx(theirs, rel=1e-9)


def pytorch_fid_stats(folder) -> FIDStats:
    """The statistics pytorch-fid computes for a folder (what ``--save-stats`` saves: no
    distance, so it runs with any SciPy), with its own network, file reading and batching."""
    from pytorch_fid.fid_score import compute_statistics_of_path
    from pytorch_fid.inception import InceptionV3
    network = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[DIMS]]).eval()
    mu, sigma = compute_statistics_of_path(str(folder), network, 8, DIMS, 'cpu', num_workers=0)
    return FIDStats(mu, sigma, len(os.listdir(folder)))


def test_fid_equals_pytorch_fid_on_its_own_statistics(tmp_path, monkeypatch):
    weights = inception_weights_file()
    fakes = write_images(str(tmp_path / 'fake'), random_images(16, seed=2))
    write_images(str(tmp_path / 'real'), random_images(16, seed=3))
    # pytorch-fid always loads the weights through torch hub's cache: put ours there
    torch_home = tmp_path / 'torch_home'
    (torch_home / 'hub' / 'checkpoints').mkdir(parents=True)
    os.symlink(weights, torch_home / 'hub' / 'checkpoints' / FID_WEIGHTS_FILE)
    monkeypatch.setenv('TORCH_HOME', str(torch_home))
    theirs = [pytorch_fid_stats(tmp_path / kind) for kind in ('fake', 'real')]

    settings = EvalSettings(fid_weights=weights, fid_dims=DIMS, fid_cache_dir=str(tmp_path / 'cache'),
                            metrics=('fid',), batch_size=8)
    ours = evaluate_folders(str(tmp_path / 'fake'), str(tmp_path / 'real'), settings=settings, progress=False)
    assert len(fakes) == ours['num_images'] == 16
    assert ours['fid'] == pytest.approx(fid_from_stats(*theirs), rel=1e-5)
    cached = fid_cache.load_stats(str(next((tmp_path / 'cache').iterdir())))  # our real statistics
    np.testing.assert_allclose(cached.mu, theirs[1].mu, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(cached.sigma, theirs[1].sigma, rtol=1e-4, atol=1e-8)


def test_generated_batches_give_the_statistics_of_their_saved_pngs(features, tmp_path):
    signed = torch.rand(6, 3, 40, 40) * 2 - 1
    paths = write_images(str(tmp_path), util.tensor2im(signed))  # what test.py saves
    from_memory = stats_of_batches(features, [signed[:4], signed[4:]])
    from_files = stats_of_batches(features, [nchw(np.stack([np.asarray(Image.open(p)) for p in paths]))])
    np.testing.assert_allclose(from_memory.mu, from_files.mu, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(from_memory.sigma, from_files.sigma, rtol=1e-4, atol=1e-8)


def test_fid_of_fewer_than_two_images_is_not_defined_and_says_so(features, tmp_path):
    one, two = nchw(random_images(1, seed=0)), nchw(random_images(2, seed=1))
    for first, second in ((one, two), (two, one), (one[:0], two)):
        with pytest.warns(UserWarning, match=rf'FID: not defined for sets of {len(first)} and {len(second)} images'):
            assert np.isnan(fid_from_stats(stats_of_batches(features, [first]), stats_of_batches(features, [second])))

    # a folder of one image: the evaluation ends with FID not defined, not with an error
    write_images(str(tmp_path / 'fake'), random_images(1, seed=2))
    write_images(str(tmp_path / 'real'), random_images(1, seed=3))
    settings = EvalSettings(fid_weights=inception_weights_file(), fid_dims=DIMS, fid_cache_dir='', metrics=('fid',))
    with pytest.warns(UserWarning, match='FID: not defined for sets of 1 and 1 images'):
        results = evaluate_folders(str(tmp_path / 'fake'), str(tmp_path / 'real'), settings=settings, progress=False)
    assert np.isnan(results['fid']) and results['num_images'] == 1


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
    with pytest.raises(CheckpointError, match='--fid_weights file .*text.pth is truncated, corrupt or not a PyTorch '
                                              'state dict'):
        load_inception(str(tmp_path / 'text.pth'), dims=DIMS)
    state = torch.load(inception_weights_file(), weights_only=True)
    del state['Mixed_7c.branch_pool.conv.weight']
    torch.save(state, tmp_path / 'partial.pth')
    with pytest.raises(CheckpointError, match='Mixed_7c.branch_pool.conv.weight'):
        load_inception(str(tmp_path / 'partial.pth'), dims=DIMS)


def test_unsupported_dims_are_refused():
    with pytest.raises(UserError, match='--fid_dims'):
        load_inception(inception_weights_file(), dims=100)
