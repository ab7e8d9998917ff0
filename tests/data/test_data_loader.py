"""``create_dataloader`` and friends: SPADE's defaults, repeatable workers, one-line errors from workers."""
import os

import numpy as np
import pytest
import torch
from torch.utils.data import RandomSampler, SequentialSampler, SubsetRandomSampler

import data
from data_fixtures import build_custom, inference_opt, train_opt, write_image
from util.errors import DatasetError, OptionError, user_message


def test_registry_and_option_setters():
    assert set(data.DATASETS) == {'ade20k', 'celebahq', 'cityscapes', 'coco', 'custom', 'deepfashion', 'synthetic'}
    for name, cls in data.DATASETS.items():
        assert data.get_option_setter(name) == cls.modify_commandline_options
    with pytest.raises(OptionError, match=r"--dataset_mode 'ade' is unknown; choose one of ade20k, celebahq, "):
        data.get_option_setter('ade')
    with pytest.raises(OptionError, match='unknown'):
        train_opt('--dataset_mode', 'kitti', '--dataroot', 'x')


def test_spade_loader_defaults():
    opt = train_opt('--batchSize', '4', '--synthetic_train_size', '10', '--crop_size', '32')
    loader = data.create_dataloader(opt)
    assert loader.batch_size == 4 and loader.drop_last and loader.num_workers == 0
    assert isinstance(loader.sampler, RandomSampler) and loader.worker_init_fn is data.seed_worker
    assert len(loader) == 2  # 10 samples, incomplete batch dropped
    serial = data.create_dataloader(inference_opt('--synthetic_test_size', '5', '--crop_size', '32'))
    assert isinstance(serial.sampler, SequentialSampler) and not serial.drop_last and len(serial) == 5


def test_own_sampler_and_batch_size():
    opt = train_opt('--synthetic_train_size', '10', '--crop_size', '32')
    dataset = data.create_dataset(opt)
    sampler = SubsetRandomSampler([1, 3, 5])
    loader = data.create_dataloader(opt, dataset=dataset, sampler=sampler, batch_size=3)
    batch = next(iter(loader))
    assert loader.sampler is sampler and batch['label'].shape == (3, 1, 32, 32)
    assert sorted(p[-10:] for p in batch['path']) == ['000001.png', '000003.png', '000005.png']


def test_fewer_samples_than_a_batch_is_an_error_when_training():
    opt = train_opt('--synthetic_train_size', '3', '--batchSize', '4', '--crop_size', '32')
    with pytest.raises(DatasetError, match=r'3 training samples, fewer than --batchSize 4'):
        data.create_dataloader(opt)


def crops(opt, seed):
    torch.manual_seed(seed)
    return torch.cat([batch['label'] for batch in data.create_dataloader(opt)])


def test_worker_randomness_repeats_with_the_seed(tmp_path):
    tree = build_custom(str(tmp_path), names=tuple('abcdefgh'), size=(64, 64))
    opt = train_opt('--dataset_mode', 'custom', '--label_dir', tree['label_dir'], '--image_dir', tree['image_dir'],
                    '--preprocess_mode', 'crop', '--crop_size', '32', '--nThreads', '2', '--batchSize', '2')
    first, again, other = crops(opt, 0), crops(opt, 0), crops(opt, 1)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_worker_errors_arrive_as_dataset_errors_with_one_line(tmp_path):
    tree = build_custom(str(tmp_path), names=('a', 'b'))
    write_image(os.path.join(tree['label_dir'], 'b.png'), np.full((32, 48), 40, dtype=np.uint8))
    opt = inference_opt('--dataset_mode', 'custom', '--label_dir', tree['label_dir'], '--image_dir',
                        tree['image_dir'], '--nThreads', '1', '--crop_size', '32')
    with pytest.raises(DatasetError) as error:
        list(data.create_dataloader(opt))
    line = user_message(error.value)
    assert line.startswith(os.path.join(tree['label_dir'], 'b.png') + ': label value 40 is out of range')
    assert '\n' not in line


def test_seed_worker_seeds_numpy_and_random_from_torch():
    import random
    torch.manual_seed(123)
    data.seed_worker(0)
    first = (np.random.rand(), random.random())
    torch.manual_seed(123)
    data.seed_worker(0)
    assert (np.random.rand(), random.random()) == first


@pytest.mark.parametrize('mode', ['ade20k', 'cityscapes', 'coco', 'celebahq', 'deepfashion'])
def test_file_modes_without_dataroot_say_so(mode):
    opt = train_opt('--dataset_mode', mode)
    with pytest.raises(OptionError, match=f'--dataset_mode {mode} needs --dataroot'):
        data.create_dataset(opt)
