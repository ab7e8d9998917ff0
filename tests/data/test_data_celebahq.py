"""CelebAMask-HQ: the raw release (parts merged in the official order, official split) and
CoCosNet/MoNCE's prepared layout (glasses as their own class in one channel)."""
import os

import numpy as np
import pytest

import data
from data.celebahq_dataset import CLASS_NAMES, PREPARED_GLASSES
from data_fixtures import build_celebahq_prepared, build_celebahq_raw, inference_opt, train_opt, write_image
from util.errors import DatasetError


def celeba_opt(root, *extra, test=False):
    argv = ('--dataset_mode', 'celebahq', '--dataroot', root, '--preprocess_mode', 'none') + extra
    return inference_opt(*argv) if test else train_opt(*argv, '--no_flip')


@pytest.fixture(scope='module')
def raw(tmp_path_factory):
    return build_celebahq_raw(str(tmp_path_factory.mktemp('celeba_raw')))


@pytest.fixture(scope='module')
def prepared(tmp_path_factory):
    return build_celebahq_prepared(str(tmp_path_factory.mktemp('celeba_prep')))


def test_defaults_and_class_order():
    opt = train_opt('--dataset_mode', 'celebahq', '--dataroot', 'x')
    assert (opt.label_nc, opt.contain_dontcare_label, opt.no_instance, opt.semantic_nc) == (19, False, True, 19)
    assert (opt.preprocess_mode, opt.load_size, opt.crop_size) == ('resize_and_crop', 286, 256)
    assert CLASS_NAMES[:4] == ('background', 'skin', 'nose', 'eye_g') and CLASS_NAMES[-1] == 'cloth'
    assert len(CLASS_NAMES) == 19


def test_raw_official_split_from_the_mapping_file(raw):
    def ids(opt):
        return [int(os.path.basename(s.image)[:-4]) for s in data.create_dataset(opt).samples]
    assert ids(celeba_opt(raw['dataroot'])) == [0, 1, 2, 3]
    assert ids(celeba_opt(raw['dataroot'], test=True)) == [5]
    assert ids(celeba_opt(raw['dataroot'], '--phase', 'val', test=True)) == [4]


def test_raw_parts_merge_in_the_official_order(raw):
    dataset = data.create_dataset(celeba_opt(raw['dataroot']))
    item = dataset[0]  # face 0 wears glasses
    label = item['label'][0].numpy()
    assert label.shape == (64, 64) and item['image'].shape == (3, 64, 64)  # 32px masks follow the 64px photo
    q = 8 * 2  # the fixture's quarter of a 32px mask, at 64px
    assert label[q + 5 * 2 - 1, 2 * q] == 3        # glasses below the hair line
    assert label[q + 3 * 2, 2 * q] == 13           # hair drawn after glasses wins
    assert label[2 * q, 2 * q] == 2                # nose over skin
    assert label[3 * q + 2, 0] == 18 and label[2 * q, 0] == 0
    assert 3 not in data.create_dataset(celeba_opt(raw['dataroot']))[1]['label']  # face 1: no glasses


def test_celeba_partition_file_takes_precedence(tmp_path):
    root = build_celebahq_raw(str(tmp_path), ids=(0, 1))['dataroot']
    with open(os.path.join(root, 'list_eval_partition.txt'), 'w') as handle:
        handle.write('001000.jpg 2\n001001.jpg 0\n')  # the CelebA files of faces 0 and 1
    assert [s.image[-5:] for s in data.create_dataset(celeba_opt(root, test=True)).samples] == ['0.jpg']


def test_raw_without_mapping_uses_the_documented_fallback(tmp_path):
    root = build_celebahq_raw(str(tmp_path), ids=(0, 1, 8, 9), mapping=False)['dataroot']
    assert len(data.create_dataset(celeba_opt(root))) == 2
    assert [os.path.basename(s.image) for s in data.create_dataset(celeba_opt(root, test=True)).samples] == ['9.jpg']
    os.remove(os.path.join(root, 'CelebA-HQ-img', '9.jpg'))
    with pytest.raises(DatasetError, match=r'1 label\(s\) without image .*00009_\*.png'):
        data.create_dataset(celeba_opt(root, test=True))


def test_prepared_layout_detected_with_glasses_as_class_16(prepared):
    dataset = data.create_dataset(celeba_opt(prepared['dataroot']))
    assert dataset.layout == 'prepared' and len(dataset) == 3
    plain, glasses = dataset[0]['label'][0].numpy(), dataset[1]['label'][0].numpy()
    assert plain.shape == (64, 64) and dataset[1]['label'].shape == (1, 64, 64)  # single channel
    assert set(np.unique(plain)) == {0, 1, 13, 18}
    assert set(np.unique(glasses)) == {0, 1, 13, 18, PREPARED_GLASSES}
    assert (glasses == PREPARED_GLASSES).sum() == (4 * 16) * 4  # the 4x16 eye_g mask at 32px, scaled 2x


def test_prepared_test_phase_reads_val_txt(prepared):
    dataset = data.create_dataset(celeba_opt(prepared['dataroot'], test=True))
    assert [os.path.basename(s.image) for s in dataset.samples] == ['2001.jpg', '2002.jpg']
    assert PREPARED_GLASSES in dataset[0]['label']  # glasses of face 2001 live in folder 1


def test_prepared_listed_face_without_map_is_named(tmp_path):
    root = build_celebahq_prepared(str(tmp_path))['dataroot']
    os.remove(os.path.join(root, 'CelebAMask-HQ-mask-anno', 'all_parts_except_glasses', '00002.png'))
    message = r'train.txt: 1 listed id\(s\) have no file .*all_parts_except_glasses.*first: 2\)'
    with pytest.raises(DatasetError, match=message):
        data.create_dataset(celeba_opt(root))


def test_prepared_out_of_range_value(tmp_path):
    root = build_celebahq_prepared(str(tmp_path), train_ids=(0,), val_ids=(1,))['dataroot']
    write_image(os.path.join(root, 'CelebAMask-HQ-mask-anno', 'all_parts_except_glasses', '00000.png'),
                np.full((32, 32), 19, dtype=np.uint8))
    with pytest.raises(DatasetError, match=r'00000.png: label value 19 .*--label_nc 19'):
        data.create_dataset(celeba_opt(root))[0]
