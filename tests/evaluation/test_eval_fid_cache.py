"""The real images' FID statistics are cached, reused, and invalidated when files change."""
import os
from types import SimpleNamespace

import numpy as np
import pytest
from eval_helpers import inception_weights_file, random_images, write_images

from evaluation import fid_cache
from evaluation.fid import FIDStats, InceptionFeatures
from evaluation.run import evaluate_folders
from evaluation.settings import EvalSettings

DIMS = 64


@pytest.fixture
def folders(tmp_path):
    write_images(str(tmp_path / 'fake'), random_images(6, seed=0))
    reals = write_images(str(tmp_path / 'real'), random_images(6, seed=1))
    return tmp_path, reals


@pytest.fixture
def embedded(monkeypatch):
    """Counts the images that go through Inception."""
    counter = {'images': 0}
    original = InceptionFeatures.activations

    def counting(self, images):
        counter['images'] += images.shape[0]
        return original(self, images)
    monkeypatch.setattr(InceptionFeatures, 'activations', counting)
    return counter


def run(tmp_path, cache_dir) -> dict:
    settings = EvalSettings(fid_weights=inception_weights_file(), fid_dims=DIMS, fid_cache_dir=cache_dir,
                            metrics=('fid',), batch_size=4)
    return evaluate_folders(str(tmp_path / 'fake'), str(tmp_path / 'real'), settings=settings, progress=False)


def test_second_evaluation_embeds_only_the_fakes(folders, embedded):
    tmp_path, _ = folders
    cache = str(tmp_path / 'cache')
    first = run(tmp_path, cache)
    assert embedded['images'] == 12 and not first['info']['fid_reference_from_cache']
    entries = os.listdir(cache)
    assert len(entries) == 1 and entries[0].startswith('folder_real_32x32_') and entries[0].endswith('.npz')

    second = run(tmp_path, cache)
    assert embedded['images'] == 12 + 6 and second['info']['fid_reference_from_cache']
    assert second['fid'] == pytest.approx(first['fid'], rel=1e-12)


def test_changing_a_real_file_invalidates_the_entry(folders, embedded):
    tmp_path, reals = folders
    cache = str(tmp_path / 'cache')
    first = run(tmp_path, cache)
    write_images(str(tmp_path / 'real'), random_images(1, seed=9), names=['img000'])
    stat = os.stat(reals[0])
    os.utime(reals[0], ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # even on coarse-mtime filesystems
    second = run(tmp_path, cache)
    assert not second['info']['fid_reference_from_cache'] and embedded['images'] == 24
    assert len(os.listdir(cache)) == 2
    assert second['fid'] != pytest.approx(first['fid'], rel=1e-9)


def test_empty_cache_dir_disables_caching(folders, embedded, monkeypatch):
    tmp_path, _ = folders
    monkeypatch.chdir(tmp_path)  # nothing may appear here or in the cache folder
    results = run(tmp_path, '')
    assert embedded['images'] == 12 and not results['info']['fid_reference_from_cache']
    assert sorted(os.listdir(tmp_path)) == ['fake', 'real']


def key(files, **changes):
    parts = dict(dataset='ade20k', split='val', size=256, files=files, preprocess='loader',
                 features=SimpleNamespace(weights_id='w.pth:1:2', dims=2048))
    parts.update(changes)
    return fid_cache.cache_key(**parts)


def test_key_depends_on_everything_that_changes_the_statistics(tmp_path):
    files = write_images(str(tmp_path), random_images(3))
    base = key(files)
    assert key(list(files)) == base
    variants = [key(files[:2]), key(files[::-1]), key(files, dataset='coco'), key(files, split='train'),
                key(files, size=128), key(files, preprocess='other'),
                key(files, features=SimpleNamespace(weights_id='w.pth:1:3', dims=2048)),
                key(files, features=SimpleNamespace(weights_id='w.pth:1:2', dims=64))]
    assert base not in variants and len(set(variants)) == len(variants)


def test_unreadable_entry_is_recomputed_and_replaced(tmp_path):
    stats = FIDStats(np.arange(3.0), np.eye(3), 5)
    calls = []

    def compute():
        calls.append(1)
        return stats
    parts = dict(dataset='d', split='s', size=(32, 48), files=[], preprocess='p',
                 features=SimpleNamespace(weights_id='w', dims=3))
    _, path = fid_cache.lookup(str(tmp_path), **parts)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as handle:
        handle.write(b'truncated')
    got, hit = fid_cache.cached_stats(str(tmp_path), compute=compute, **parts)
    assert not hit and calls == [1]
    again, hit = fid_cache.cached_stats(str(tmp_path), compute=compute, **parts)
    assert hit and calls == [1]
    np.testing.assert_array_equal(again.sigma, stats.sigma)
    assert again.count == 5 and os.path.basename(path).startswith('d_s_32x48_')
