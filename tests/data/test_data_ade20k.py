"""ADE20K as downloaded: split by name, labels 0..150 fed as they are (SPADE's 151 channels)."""
import os
import shutil

import numpy as np
import pytest
import torch

import data
from data_fixtures import build_ade20k, inference_opt, train_opt, write_image
from util.errors import DatasetError


@pytest.fixture(scope='module')
def ade(tmp_path_factory):
    return build_ade20k(str(tmp_path_factory.mktemp('ade')))


def test_spade_defaults():
    opt = train_opt('--dataset_mode', 'ade20k', '--dataroot', 'x')
    assert (opt.label_nc, opt.contain_dontcare_label, opt.no_instance) == (150, True, True)
    sizes = (opt.preprocess_mode, opt.load_size, opt.crop_size, opt.display_winsize)
    assert sizes == ('resize_and_crop', 286, 256, 256)
    assert opt.semantic_nc == 151
    assert inference_opt('--dataset_mode', 'ade20k', '--dataroot', 'x').load_size == 256


def test_training_split_pairs_and_values(ade):
    opt = train_opt('--dataset_mode', 'ade20k', '--dataroot', ade['dataroot'], '--load_size', '52', '--crop_size', '32')
    dataset = data.create_dataset(opt)
    assert len(dataset) == 3
    for i, name in enumerate(['ADE_train_00000001', 'ADE_train_00000002', 'ADE_train_00000003']):
        item = dataset[i]
        assert item['path'].endswith(os.path.join('images', 'training', name + '.jpg'))
        assert item['label'].shape == (1, 32, 32) and item['image'].shape == (3, 32, 32)
        assert set(item['label'].unique().tolist()) <= set(ade['labels'][name])
        assert item['label'].max() <= 150 and item['instance'] == 0


def test_test_phase_reads_validation_at_full_label_resolution(ade):
    opt = inference_opt('--dataset_mode', 'ade20k', '--dataroot', ade['dataroot'], '--preprocess_mode', 'none')
    dataset = data.create_dataset(opt)
    assert [os.path.basename(s.image) for s in dataset.samples] == ['ADE_val_00000001.jpg', 'ADE_val_00000002.jpg']
    item = dataset[1]
    assert item['label'].shape == (1, 32, 64)  # 48x32 rounded to multiples of 32
    assert sorted(item['label'].unique().tolist()) == [0, 2, 148, 150]


def test_annotations_beside_images_as_cocosnet_prepares_them(tmp_path):
    tree = build_ade20k(str(tmp_path), n_train=2, n_val=1)
    root = tree['dataroot']
    for name in os.listdir(os.path.join(root, 'annotations', 'training')):
        shutil.move(os.path.join(root, 'annotations', 'training', name), os.path.join(root, 'images', 'training', name))
    assert len(data.create_dataset(train_opt('--dataset_mode', 'ade20k', '--dataroot', root))) == 2


def test_missing_annotation_is_named(tmp_path):
    root = build_ade20k(str(tmp_path))['dataroot']
    os.remove(os.path.join(root, 'annotations', 'training', 'ADE_train_00000002.png'))
    with pytest.raises(DatasetError, match=r'1 image\(s\) without label .*ADE_train_00000002.jpg'):
        data.create_dataset(train_opt('--dataset_mode', 'ade20k', '--dataroot', root))


def test_value_above_150_is_an_error_naming_file_and_option(tmp_path):
    root = build_ade20k(str(tmp_path), n_train=1, n_val=0)['dataroot']
    bad = os.path.join(root, 'annotations', 'training', 'ADE_train_00000001.png')
    write_image(bad, np.full((32, 48), 151, dtype=np.uint8))
    dataset = data.create_dataset(train_opt('--dataset_mode', 'ade20k', '--dataroot', root))
    with pytest.raises(DatasetError, match=r'ADE_train_00000001.png: label value 151 .*--label_nc 150'):
        dataset[0]


def test_wrong_dataroot_says_what_was_searched(tmp_path):
    with pytest.raises(DatasetError, match=r'ADE_train_\*.png: no files found'):
        data.create_dataset(train_opt('--dataset_mode', 'ade20k', '--dataroot', str(tmp_path)))
    with pytest.raises(DatasetError, match=r'nowhere: folder not found; check --dataroot'):
        data.create_dataset(train_opt('--dataset_mode', 'ade20k', '--dataroot', str(tmp_path / 'nowhere')))


def test_batches_through_the_loader(ade):
    opt = train_opt('--dataset_mode', 'ade20k', '--dataroot', ade['dataroot'], '--load_size', '36', '--crop_size', '32',
                    '--batchSize', '2')
    batch = next(iter(data.create_dataloader(opt)))
    assert batch['label'].shape == (2, 1, 32, 32) and batch['label'].dtype == torch.int64
    assert batch['image'].shape == (2, 3, 32, 32) and -1 <= batch['image'].min() <= batch['image'].max() <= 1
    assert len(batch['path']) == 2
