"""Evaluation's file handling: pairing by stem, reading, resizing, tensor conventions."""
import os

import numpy as np
import pytest
import torch
from eval_helpers import random_images, write_images

from evaluation.images import list_images, pair_by_stem, read_label, read_rgb, resize_label, resize_rgb, to_uint8
from util import util
from util.errors import DatasetError


def test_pairs_by_stem_across_extensions_and_reports_unused_reals(tmp_path):
    write_images(str(tmp_path / 'fake'), random_images(2), names=['a', 'b'], ext='.png')
    write_images(str(tmp_path / 'real'), random_images(3), names=['a', 'b', 'c'], ext='.jpg')
    (tmp_path / 'fake' / 'notes.txt').write_text('not an image')
    samples, unused = pair_by_stem(list_images(str(tmp_path / 'fake'), '--fake_dir'),
                                   list_images(str(tmp_path / 'real'), '--real_dir'))
    assert [(s.stem, os.path.basename(s.fake), os.path.basename(s.real)) for s in samples] == \
        [('a', 'a.png', 'a.jpg'), ('b', 'b.png', 'b.jpg')]
    assert unused == {'real': 1}


def test_a_fake_without_its_real_or_label_is_an_error(tmp_path):
    fakes = {'a': 'a.png', 'b': 'b.png'}
    with pytest.raises(DatasetError, match="1 generated image.*--real_dir: b"):
        pair_by_stem(fakes, {'a': 'a.jpg'})
    with pytest.raises(DatasetError, match='--label_dir: a, b'):
        pair_by_stem(fakes, {'a': 'a.jpg', 'b': 'b.jpg'}, {})


def test_folder_problems_are_named(tmp_path):
    with pytest.raises(DatasetError, match="--fake_dir '.*nowhere' does not exist: give the folder"):
        list_images(str(tmp_path / 'nowhere'), '--fake_dir')
    (tmp_path / 'a_file').write_text('')
    with pytest.raises(DatasetError, match="--fake_dir '.*a_file' is a file"):
        list_images(str(tmp_path / 'a_file'), '--fake_dir')
    (tmp_path / 'a_file').unlink()
    with pytest.raises(DatasetError, match='contains no images'):
        list_images(str(tmp_path), '--real_dir')
    write_images(str(tmp_path), random_images(1), names=['x'], ext='.png')
    write_images(str(tmp_path), random_images(1), names=['x'], ext='.jpg')
    with pytest.raises(DatasetError, match="two images named 'x'"):
        list_images(str(tmp_path), '--real_dir')


def test_unreadable_files_are_named(tmp_path):
    broken = tmp_path / 'broken.png'
    broken.write_bytes(b'\x89PNG not really')
    with pytest.raises(DatasetError, match='broken.png'):
        read_rgb(str(broken))
    write_images(str(tmp_path), random_images(1), names=['colour'])
    with pytest.raises(DatasetError, match='colour visualisation'):
        read_label(str(tmp_path / 'colour.png'))


def test_labels_keep_their_raw_values(tmp_path):
    label = np.array([[0, 1], [149, 150]], dtype=np.uint8)
    write_images(str(tmp_path), [label], names=['label'])
    values = read_label(str(tmp_path / 'label.png'))
    assert values.dtype == np.int64
    np.testing.assert_array_equal(values, label)


def test_label_resize_is_nearest_and_invents_no_class():
    label = np.array([[1, 2], [3, 4]])
    np.testing.assert_array_equal(resize_label(label, (4, 4)), np.kron(label, np.ones((2, 2), dtype=int)))
    np.testing.assert_array_equal(resize_label(np.kron(label, np.ones((3, 3), dtype=int)), (2, 2)), label)


def test_rgb_resize_changes_only_when_needed():
    image = random_images(1, size=16)[0]
    assert resize_rgb(image, (16, 16)) is image
    assert resize_rgb(image, (8, 12)).shape == (8, 12, 3)


def test_float_images_quantise_to_the_bytes_test_py_saves():
    signed = torch.rand(3, 3, 9, 7) * 2.2 - 1.1  # a little out of range, clipped like SPADE
    np.testing.assert_array_equal(to_uint8(signed).permute(0, 2, 3, 1).numpy(), util.tensor2im(signed))
    as_bytes = to_uint8(signed)
    assert to_uint8(as_bytes) is as_bytes
    with pytest.raises(ValueError, match=r'expected \(B,3,H,W\) images, got shape \(2, 1, 4, 4\)'):
        to_uint8(torch.zeros(2, 1, 4, 4))
