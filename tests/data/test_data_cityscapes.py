"""Cityscapes as downloaded: labelIds, 16-bit instanceIds read as int32, pairing by city_seq_frame."""
import os

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms

import data
from data.image_io import load_index_map
from data_fixtures import CITY_INSTANCES, build_cityscapes, inference_opt, train_opt
from util.errors import DatasetError


@pytest.fixture(scope='module')
def city(tmp_path_factory):
    return build_cityscapes(str(tmp_path_factory.mktemp('city')))


def city_opt(root, *extra, test=False):
    argv = ('--dataset_mode', 'cityscapes', '--dataroot', root, '--crop_size', '64', '--num_upsampling_layers',
            'normal') + extra
    return inference_opt(*argv) if test else train_opt(*argv)


def test_spade_defaults():
    opt = train_opt('--dataset_mode', 'cityscapes', '--dataroot', 'x')
    assert (opt.label_nc, opt.contain_dontcare_label, opt.no_instance) == (35, False, False)
    assert (opt.preprocess_mode, opt.crop_size, opt.aspect_ratio, opt.batchSize) == ('fixed', 512, 2.0, 16)
    assert opt.num_upsampling_layers == 'more' and opt.semantic_nc == 36


def test_the_fixture_instance_png_is_16_bit_and_torchvision_would_wrap_it(city):
    path = os.path.join(city['dataroot'], 'gtFine', 'train', 'aachen', 'aachen_000000_000019_gtFine_instanceIds.png')
    image = Image.open(path)
    assert image.mode == 'I;16'
    # the trap this loader avoids: SPADE's ToTensor reads I;16 as int16, so 33001 turns negative
    assert transforms.ToTensor()(image).min() < 0
    loaded = load_index_map(path)
    assert loaded.dtype == np.int32 and loaded.max() == 33001


def test_samples_pair_label_image_and_instance(city):
    dataset = data.create_dataset(city_opt(city['dataroot']))
    assert len(dataset) == 4
    for sample in dataset.samples:
        key = '_'.join(os.path.basename(sample.label).split('_')[:3])
        assert os.path.basename(sample.image) == key + '_leftImg8bit.png'
        assert os.path.basename(sample.instance) == key + '_gtFine_instanceIds.png'


def test_fixed_512x256_style_output_with_int32_instances(city):
    dataset = data.create_dataset(city_opt(city['dataroot'], '--no_flip'))
    item = dataset[0]
    stem = os.path.basename(dataset.samples[0].label)[:len('aachen_000000_000019')]
    assert item['label'].shape == (1, 32, 64) and item['image'].shape == (3, 32, 64)
    assert item['label'][0, 0].tolist() == np.repeat(city['labels'][stem], 16).tolist()
    assert item['instance'].dtype == torch.int32 and item['instance'].shape == (1, 32, 64)
    assert item['instance'][0, 0].tolist() == np.repeat(CITY_INSTANCES, 16).tolist()


def test_test_phase_reads_val(city):
    dataset = data.create_dataset(city_opt(city['dataroot'], test=True))
    assert all(f'{os.sep}val{os.sep}' in s.label for s in dataset.samples) and len(dataset) == 4


def test_no_instance_skips_instance_maps(city):
    item = data.create_dataset(city_opt(city['dataroot'], '--no_instance'))[0]
    assert item['instance'] == 0


def test_missing_image_is_listed(tmp_path):
    root = build_cityscapes(str(tmp_path), cities=('bochum',), per_city=2, splits=('train',))['dataroot']
    os.remove(os.path.join(root, 'leftImg8bit', 'train', 'bochum', 'bochum_000001_000020_leftImg8bit.png'))
    with pytest.raises(DatasetError, match=r'1 label\(s\) without image .*bochum_000001_000020_gtFine_labelIds.png'):
        data.create_dataset(city_opt(root))


def test_missing_instance_maps_suggest_no_instance(tmp_path):
    root = build_cityscapes(str(tmp_path), cities=('bochum',), per_city=1, splits=('train',))['dataroot']
    os.remove(os.path.join(root, 'gtFine', 'train', 'bochum', 'bochum_000000_000019_gtFine_instanceIds.png'))
    with pytest.raises(DatasetError, match=r'_instanceIds.png: no files found; or pass --no_instance'):
        data.create_dataset(city_opt(root))


def test_colour_map_given_as_labels_is_refused(tmp_path):
    root = build_cityscapes(str(tmp_path), cities=('bochum',), per_city=1, splits=('train',))['dataroot']
    gt = os.path.join(root, 'gtFine', 'train', 'bochum', 'bochum_000000_000019_gtFine_')
    os.replace(gt + 'color.png', gt + 'labelIds.png')
    dataset = data.create_dataset(city_opt(root))
    with pytest.raises(DatasetError, match=r'labelIds.png: colour \(RGB\) label map where class indices are expected'):
        dataset[0]
