"""Custom folders: pairing by name (subfolders too), optional photos at test time, instance maps."""
import os

import numpy as np
import pytest
import torch

import data
from data_fixtures import build_custom, inference_opt, train_opt, write_image
from util.errors import DatasetError, OptionError


def custom_args(tree, *extra, images=True, instances=False):
    argv = ['--dataset_mode', 'custom', '--label_dir', tree['label_dir'], '--load_size', '36', '--crop_size', '32']
    if images:
        argv += ['--image_dir', tree['image_dir']]
    if instances:
        argv += ['--instance_dir', tree['instance_dir']]
    return tuple(argv) + extra


def test_spade_defaults_and_instance_default_follows_instance_dir(tmp_path):
    tree = build_custom(str(tmp_path), instances=True)
    opt = train_opt(*custom_args(tree))
    assert (opt.label_nc, opt.contain_dontcare_label, opt.no_instance) == (13, False, True)
    assert (opt.preprocess_mode, opt.load_size, opt.crop_size) == ('resize_and_crop', 36, 32)
    assert train_opt(*custom_args(tree, instances=True)).no_instance is False


def test_label_dir_is_required():
    with pytest.raises(OptionError, match='--label_dir'):
        train_opt('--dataset_mode', 'custom')


def test_pairs_by_name_including_subfolders(tmp_path):
    tree = build_custom(str(tmp_path), names=('a', 'b', os.path.join('sub', 'a')))
    dataset = data.create_dataset(train_opt(*custom_args(tree)))
    pairs = [(os.path.relpath(s.label, tree['label_dir']), os.path.relpath(s.image, tree['image_dir']))
             for s in dataset.samples]
    sub_a = os.path.join('sub', 'a.png')
    assert pairs == [('a.png', 'a.png'), ('b.png', 'b.png'), (sub_a, sub_a)]


def test_unpaired_names_are_listed(tmp_path):
    tree = build_custom(str(tmp_path), names=('a', 'b', 'c', 'd', 'e'))
    for name in ('b', 'c', 'd', 'e'):
        os.rename(os.path.join(tree['image_dir'], name + '.png'), os.path.join(tree['image_dir'], name + '_photo.png'))
    with pytest.raises(DatasetError) as error:
        data.create_dataset(train_opt(*custom_args(tree)))
    message = str(error.value)
    assert '4 label(s) without image' in message and 'b.png, c.png, d.png, ...' in message
    assert '4 image(s) without label' in message and 'b_photo.png' in message
    assert '\n' not in message


def test_no_pairing_check_pairs_in_sorted_order(tmp_path):
    tree = build_custom(str(tmp_path), names=('a', 'b'))
    os.rename(os.path.join(tree['image_dir'], 'b.png'), os.path.join(tree['image_dir'], 'b_photo.png'))
    dataset = data.create_dataset(train_opt(*custom_args(tree, '--no_pairing_check')))
    assert os.path.basename(dataset.samples[1].image) == 'b_photo.png'
    os.remove(os.path.join(tree['image_dir'], 'b_photo.png'))
    with pytest.raises(DatasetError, match=r'2 labels but 1 files'):
        data.create_dataset(train_opt(*custom_args(tree, '--no_pairing_check')))


def test_test_time_without_photos(tmp_path):
    tree = build_custom(str(tmp_path), names=('a', 'b'))
    dataset = data.create_dataset(inference_opt(*custom_args(tree, images=False)))
    assert dataset.has_images is False
    item = dataset[1]
    assert item['path'] == os.path.join(tree['label_dir'], 'b.png')
    assert item['label'].shape == (1, 32, 32) and torch.equal(item['image'], torch.zeros(3, 32, 32))
    assert data.create_dataset(inference_opt(*custom_args(tree))).has_images is True
    with pytest.raises(OptionError, match='--image_dir is required for training'):
        data.create_dataset(train_opt(*custom_args(tree, images=False)))


def test_instance_maps_are_paired_and_int32(tmp_path):
    tree = build_custom(str(tmp_path), names=('a', 'b'), instances=True)
    item = data.create_dataset(inference_opt(*custom_args(tree, '--preprocess_mode', 'none', instances=True)))[0]
    assert item['instance'].dtype == torch.int32
    assert item['instance'].shape == (1, 32, 64)  # 48x32 rounded to multiples of 32
    assert item['instance'][0, 0, ::16].tolist() == [1000, 2000, 3000, 4000]
    assert item['label'][0, 0, ::16].tolist() == [0, 1, 2, 3]


def test_16_bit_label_values_above_label_nc(tmp_path):
    tree = build_custom(str(tmp_path), names=('a',))
    write_image(os.path.join(tree['label_dir'], 'a.png'), np.full((32, 48), 300, dtype=np.uint16))
    dataset = data.create_dataset(inference_opt(*custom_args(tree)))
    with pytest.raises(DatasetError, match=r'a.png: label value 300 is out of range for --label_nc 13 .*valid: 0..12'):
        dataset[0]
    opt = inference_opt(*custom_args(tree, '--label_nc', '301'))
    assert data.create_dataset(opt)[0]['label'].unique().tolist() == [300]
