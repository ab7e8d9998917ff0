"""The training loader's order and augmentation are functions of (seed, epoch, sample), so a run
killed anywhere and resumed with data-loader workers ends bit-identical to an uninterrupted one."""
import random
import signal
import subprocess
import sys
import time

import numpy as np
import torch

from data_fixtures import build_custom
from trainers.sampler import ResumableSampler, SeededSamples, sample_seed

from helpers import REPO, TINY_NET, load, same_weights


class Draws(torch.utils.data.Dataset):
    """A dataset whose samples are the random numbers drawn while loading them."""

    def __len__(self):
        return 6

    def __getitem__(self, index):
        return index, random.random(), float(np.random.rand()), float(torch.rand(()))


def keys(sampler, epoch, skip=0):
    sampler.set_epoch(epoch, skip=skip)
    return list(sampler)


def test_sample_seeds_differ_by_seed_epoch_and_index():
    seeds = {sample_seed(s, e, i) for s in (0, 1) for e in (1, 2) for i in range(50)}
    assert len(seeds) == 200 and all(0 <= s < 2 ** 63 for s in seeds)
    assert sample_seed(3, 4, 5) == sample_seed(3, 4, 5)


def test_skipping_keeps_the_keys_of_the_rest_of_the_epoch():
    sampler = ResumableSampler(range(10), num_replicas=2, rank=1, shuffle=True, seed=7, drop_last=True)
    whole = keys(sampler, 3)
    assert [k for k, _ in whole] == list(sampler.indices if hasattr(sampler, 'indices') else [k for k, _ in whole])
    assert keys(sampler, 3, skip=2) == whole[2:] and len(sampler) == len(whole) - 2
    assert keys(sampler, 4) != whole


def test_loading_is_seeded_per_sample_and_leaves_the_callers_randomness_alone():
    dataset = SeededSamples(Draws())
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    first = dataset[(2, 99)]
    after = random.random(), float(np.random.rand()), float(torch.rand(()))
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    assert after == (random.random(), float(np.random.rand()), float(torch.rand(())))
    assert dataset[(2, 99)] == first and dataset[(2, 100)] != first and first[0] == 2


def test_the_same_samples_whatever_the_number_of_workers():
    sampler = ResumableSampler(Draws(), num_replicas=1, rank=0, shuffle=True, seed=0, drop_last=True)

    def epoch(workers):
        sampler.set_epoch(2)
        loader = torch.utils.data.DataLoader(SeededSamples(Draws()), batch_size=2, sampler=sampler,
                                             num_workers=workers)
        return [torch.stack(list(b)).tolist() for b in loader]
    assert epoch(0) == epoch(2)


def custom_args(root, data, name):
    return ['--name', name, '--checkpoints_dir', str(root), '--gpu_ids', '-1', '--dataset_mode', 'custom',
            '--label_dir', data['label_dir'], '--image_dir', data['image_dir'], '--label_nc', '13', '--no_instance',
            '--preprocess_mode', 'resize_and_crop', '--load_size', '40', '--crop_size', '32', '--nThreads', '2',
            *TINY_NET, '--batchSize', '2', '--niter', '2', '--print_freq', '2', '--save_latest_freq', '4',
            '--display_freq', '100', '--vgg_weights', 'random', '--perceptual_loss', 'patchnce', '--num_patches', '16']


def train_cli(args, **popen):
    return subprocess.Popen([sys.executable, 'train.py'] + args, cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, **popen)


def kill_after_snapshots(args, run_dir, count):
    """Starts train.py and SIGKILLs it once ``count`` snapshots have been written."""
    proc = train_cli(args)
    marker = run_dir / 'latest_train_state.pth'
    seen, stamp, deadline = 0, None, time.time() + 300
    while seen < count and proc.poll() is None and time.time() < deadline:
        current = marker.stat().st_mtime_ns if marker.exists() else None
        if current is not None and current != stamp:
            seen, stamp = seen + 1, current
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_kill_and_resume_with_workers_and_random_crops_and_flips_is_bit_identical(tmp_path):
    data = build_custom(str(tmp_path / 'data'), names=[f's{i}' for i in range(8)], size=(48, 40))
    assert train_cli(custom_args(tmp_path, data, 'full')).wait() == 0
    cut = custom_args(tmp_path, data, 'cut')
    kill_after_snapshots(cut, tmp_path / 'cut', count=1)  # in epoch 1
    kill_after_snapshots(cut + ['--continue_train'], tmp_path / 'cut', count=2)  # in epoch 2, mid-epoch
    assert train_cli(cut + ['--continue_train']).wait() == 0
    for label in ('G', 'D'):
        assert same_weights(load(tmp_path, 'full', label), load(tmp_path, 'cut', label)), label
    full = torch.load(tmp_path / 'full' / 'latest_train_state.pth', weights_only=True)
    assert full['total_images'] == 16
