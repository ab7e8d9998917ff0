"""Unreadable and malformed files fail with one line naming the file."""
import os

import numpy as np
import pytest

import data
from data.image_io import load_index_map, load_rgb
from data.validation import pair_by_key
from data_fixtures import build_custom, inference_opt, write_image
from util.errors import DatasetError


def custom_opt(tree, *extra):
    return inference_opt('--dataset_mode', 'custom', '--label_dir', tree['label_dir'], '--image_dir',
                         tree['image_dir'], '--crop_size', '32', *extra)


def test_truncated_photo(tmp_path):
    tree = build_custom(str(tmp_path), names=('a',))
    path = os.path.join(tree['image_dir'], 'a.png')
    with open(path, 'rb') as handle:
        payload = handle.read()
    with open(path, 'wb') as handle:
        handle.write(payload[:len(payload) // 2])
    dataset = data.create_dataset(custom_opt(tree))
    with pytest.raises(DatasetError, match=r'a.png: cannot read image \(.*\); the file is corrupt or truncated'):
        dataset[0]


def test_file_that_is_not_an_image(tmp_path):
    path = tmp_path / 'x.jpg'
    path.write_text('not a picture')
    with pytest.raises(DatasetError, match=r'x.jpg: cannot read image'):
        load_rgb(str(path))


def test_file_removed_after_start_up(tmp_path):
    tree = build_custom(str(tmp_path), names=('a',))
    dataset = data.create_dataset(custom_opt(tree))
    os.remove(os.path.join(tree['image_dir'], 'a.png'))
    with pytest.raises(DatasetError, match=r'a.png: file not found'):
        dataset[0]


def test_grey_label_saved_as_rgb_is_accepted_colour_is_not(tmp_path):
    grey = np.stack([np.full((4, 4), 7, dtype=np.uint8)] * 3, axis=2)
    assert load_index_map(write_image(str(tmp_path / 'grey.png'), grey)).tolist() == [[7] * 4] * 4
    grey[0, 0, 1] = 8
    with pytest.raises(DatasetError, match=r'colour.png: colour \(RGB\) label map'):
        load_index_map(write_image(str(tmp_path / 'colour.png'), grey))


def test_palette_label_gives_indices(tmp_path):
    from PIL import Image
    image = Image.fromarray(np.array([[0, 5], [12, 3]], dtype=np.uint8)).convert('P')
    image.putpalette([v for i in range(256) for v in (i * 3 % 256, 0, 0)])
    image.save(tmp_path / 'p.png')
    assert load_index_map(str(tmp_path / 'p.png')).tolist() == [[0, 5], [12, 3]]


def test_label_and_photo_of_different_shapes(tmp_path):
    tree = build_custom(str(tmp_path), names=('a',), size=(48, 32))
    write_image(os.path.join(tree['image_dir'], 'a.png'), np.zeros((48, 32, 3), dtype=np.uint8))
    with pytest.raises(DatasetError, match=r'a.png: label is 48x32 but its image .*a.png is 32x48'):
        data.create_dataset(custom_opt(tree))[0]


def test_same_name_twice_is_refused(tmp_path):
    tree = build_custom(str(tmp_path), names=('a', 'b'))
    write_image(os.path.join(tree['image_dir'], 'a.jpg'), np.zeros((32, 48, 3), dtype=np.uint8))
    message = r'images/\*: 1 name\(s\) occur more than once .*\(e.g. (a.jpg, a.png|a.png, a.jpg)\)'
    with pytest.raises(DatasetError, match=message):
        data.create_dataset(custom_opt(tree))


def test_missing_folder_names_the_option(tmp_path):
    tree = build_custom(str(tmp_path), names=('a',))
    tree['image_dir'] = str(tmp_path / 'photos')
    with pytest.raises(DatasetError, match=r'photos: folder not found; check --image_dir'):
        data.create_dataset(custom_opt(tree))


def test_empty_folder_names_the_searched_pattern(tmp_path):
    tree = build_custom(str(tmp_path), names=('a',))
    os.remove(os.path.join(tree['label_dir'], 'a.png'))
    with pytest.raises(DatasetError, match=r'labels/\*: no files found'):
        data.create_dataset(custom_opt(tree))


def test_pairing_shows_at_most_three_names():
    labels = [f'l/{n}.png' for n in 'abcde']
    with pytest.raises(DatasetError) as error:
        pair_by_key(labels, [], lambda p: os.path.basename(p)[:-4], 'l/*', 'i/*')
    assert str(error.value) == ("l/*: labels and images do not pair up: 5 label(s) without image in i/* "
                                "(first: a.png, b.png, c.png, ...)")


def test_empty_file(tmp_path):
    (tmp_path / 'empty.png').write_bytes(b'')
    with pytest.raises(DatasetError, match=r'empty.png: empty file \(0 bytes\); copy it again'):
        load_rgb(str(tmp_path / 'empty.png'))


def test_path_that_is_a_folder(tmp_path):
    (tmp_path / 'x.png').mkdir()
    with pytest.raises(DatasetError, match=r'x.png: is a folder, not an image file'):
        load_index_map(str(tmp_path / 'x.png'))


def test_permission_denied_is_named_as_such(tmp_path, monkeypatch):
    from PIL import Image

    def refuse(path, *args, **kwargs):
        raise PermissionError(13, 'Permission denied', path)
    monkeypatch.setattr(Image, 'open', refuse)
    with pytest.raises(DatasetError, match=r'a.png: permission denied; make the file readable'):
        load_rgb(str(tmp_path / 'a.png'))


@pytest.mark.skipif(os.name != 'posix' or os.geteuid() == 0, reason='needs a user that permissions apply to')
def test_unreadable_file(tmp_path):
    path = write_image(str(tmp_path / 'a.png'), np.zeros((2, 2), dtype=np.uint8))
    os.chmod(path, 0)
    with pytest.raises(DatasetError, match=r'a.png: permission denied'):
        load_rgb(path)


def test_huge_image_loads_with_pillows_warning_or_fails_clearly(tmp_path, monkeypatch):
    from PIL import Image
    path = write_image(str(tmp_path / 'huge.png'), np.zeros((10, 15), dtype=np.uint8))
    monkeypatch.setattr(Image, 'MAX_IMAGE_PIXELS', 100)  # 150 pixels: over the limit, under twice it
    with pytest.warns(Image.DecompressionBombWarning):
        assert load_rgb(path).size == (15, 10)
    monkeypatch.setattr(Image, 'MAX_IMAGE_PIXELS', 50)
    with pytest.raises(DatasetError, match=r'huge.png: image too large to decode safely \(.*\); downscale it'):
        load_rgb(path)
