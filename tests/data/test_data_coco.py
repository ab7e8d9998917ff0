"""COCO-Stuff in SPADE's layout: 255 -> dontcare index 182, portraits, instance maps, file-list cache."""
import os

import pytest
import torch

import data
from data_fixtures import build_coco, inference_opt, train_opt
from util.errors import DatasetError


@pytest.fixture(scope='module')
def coco(tmp_path_factory):
    return build_coco(str(tmp_path_factory.mktemp('coco')), portraits=2)


def coco_opt(root, *extra, test=False, **overrides):
    argv = ('--dataset_mode', 'coco', '--dataroot', root, '--load_size', '40', '--crop_size', '32') + extra
    return inference_opt(*argv, **overrides) if test else train_opt(*argv, **overrides)


def test_spade_defaults():
    opt = train_opt('--dataroot', 'x')  # coco is the default mode with a dataroot, as in SPADE
    assert opt.dataset_mode == 'coco'
    assert (opt.label_nc, opt.contain_dontcare_label, opt.no_instance, opt.semantic_nc) == (182, True, False, 184)
    assert (opt.preprocess_mode, opt.load_size, opt.crop_size) == ('resize_and_crop', 286, 256)
    assert opt.cache_filelist_read and not opt.coco_no_portraits


def test_dontcare_255_becomes_index_182(coco):
    dataset = data.create_dataset(coco_opt(coco['dataroot'], '--preprocess_mode', 'none', test=True))
    item = dataset[0]
    stem = os.path.splitext(os.path.basename(item['path']))[0]
    assert coco['labels'][stem][2] == 255
    assert sorted(item['label'].unique().tolist()) == sorted({0, 181, 182, coco['labels'][stem][3]})
    assert item['instance'].dtype == torch.int32 and item['instance'].shape == item['label'].shape


def test_training_adds_portraits_unless_disabled(coco):
    assert len(data.create_dataset(coco_opt(coco['dataroot']))) == 5
    assert len(data.create_dataset(coco_opt(coco['dataroot'], '--coco_no_portraits'))) == 3
    test_set = data.create_dataset(coco_opt(coco['dataroot'], test=True))
    assert len(test_set) == 2 and all(f'{os.sep}val_img{os.sep}' in s.image for s in test_set.samples)


def test_dontcare_value_without_dontcare_option_is_explained(coco):
    opt = coco_opt(coco['dataroot'], '--no_instance', test=True, contain_dontcare_label=False)
    with pytest.raises(DatasetError, match=r"label value 255 \('dontcare'\) found but --contain_dontcare_label is off"):
        data.create_dataset(opt)[0]


def test_file_list_cache_is_written_read_and_stale_cache_ignored(tmp_path):
    root = build_coco(str(tmp_path), n_train=2, n_val=1)['dataroot']
    label_dir = os.path.join(root, 'train_label')
    data.create_dataset(coco_opt(root, '--cache_filelist_write'))
    with open(os.path.join(label_dir, 'files.list')) as handle:
        assert handle.read().split() == ['000000000001.png', '000000000002.png']
    with open(os.path.join(label_dir, 'files.list'), 'w') as handle:
        handle.write('000000000001.png\n')  # a cache may deliberately list a subset
    with pytest.raises(DatasetError, match=r'1 image\(s\) without label'):
        data.create_dataset(coco_opt(root))
    with open(os.path.join(label_dir, 'files.list'), 'w') as handle:
        handle.write('gone.png\n')
    with pytest.warns(UserWarning, match='stale file-list cache'):
        assert len(data.create_dataset(coco_opt(root))) == 2


def test_missing_label_folder_is_named(tmp_path):
    root = build_coco(str(tmp_path), n_train=1, n_val=0)['dataroot']
    with pytest.raises(DatasetError, match=r'val_label: folder not found; check --dataroot'):
        data.create_dataset(coco_opt(root, test=True))
