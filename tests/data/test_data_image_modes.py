"""Photos of every bit depth and mode become the right 8-bit RGB; label, instance and mask files
in a lossy format are refused, since compression invents classes."""
import os

import numpy as np
import pytest
from PIL import Image

import data
from data.image_io import load_index_map, load_mask, load_rgb
from data_fixtures import build_custom, inference_opt, write_image, write_png16
from util.errors import DatasetError

GREY16 = np.array([[0, 257 * 100, 32896, 65535]], dtype=np.uint16)  # 8-bit: 0, 100, 128, 255


def rgb(path) -> np.ndarray:
    return np.asarray(load_rgb(str(path)))


def png_bit_depth(path) -> int:
    with open(path, 'rb') as handle:
        return handle.read(26)[24]


# ---------------------------------------------------------------------------- photos
def test_16bit_grey_png_photo_is_scaled_not_clipped(tmp_path):
    path = write_image(str(tmp_path / 'grey16.png'), GREY16)
    assert png_bit_depth(path) == 16 and Image.open(path).mode == 'I;16'
    assert rgb(path)[0].tolist() == [[v] * 3 for v in (0, 100, 128, 255)]


def test_16bit_grey_photo_through_the_dataset_is_mid_grey(tmp_path):
    tree = build_custom(str(tmp_path), names=('a',))
    os.remove(os.path.join(tree['image_dir'], 'a.png'))
    write_image(os.path.join(tree['image_dir'], 'a.png'), np.full((32, 48), 32896, dtype=np.uint16))
    opt = inference_opt('--dataset_mode', 'custom', '--label_dir', tree['label_dir'], '--image_dir',
                        tree['image_dir'], '--crop_size', '32')
    image = data.create_dataset(opt)[0]['image']  # in [-1, 1]
    assert float((image - (128 / 255 * 2 - 1)).abs().max()) < 1e-6


def test_16bit_colour_png_photo_keeps_its_colours(tmp_path):
    colour = np.zeros((2, 2, 3), dtype=np.uint16)
    colour[..., 0], colour[..., 1], colour[..., 2] = 32896, 0x1234, 65535
    path = write_png16(str(tmp_path / 'rgb16.png'), colour)
    assert png_bit_depth(path) == 16
    assert rgb(path)[0, 0].tolist() == [128, 18, 255]
    grey_alpha = np.stack([np.full((2, 2), 32896), np.full((2, 2), 65535)], axis=2).astype(np.uint16)
    assert rgb(write_png16(str(tmp_path / 'la16.png'), grey_alpha))[0, 0].tolist() == [128, 128, 128]


def test_32bit_integer_photo_is_read_as_16bit_or_refused(tmp_path):
    path = str(tmp_path / 'int32.tif')
    Image.fromarray(GREY16.astype(np.int32)).save(path)
    assert Image.open(path).mode == 'I'
    assert rgb(path)[0, :, 0].tolist() == [0, 100, 128, 255]
    Image.fromarray(np.array([[0, 70000]], dtype=np.int32)).save(path)
    with pytest.raises(DatasetError, match=r'int32.tif: 32-bit integer photo with values outside 0..65535'):
        load_rgb(path)


def test_float_photo_is_refused(tmp_path):
    path = str(tmp_path / 'float.tif')
    Image.fromarray(np.full((2, 2), 0.5, dtype=np.float32)).save(path)
    with pytest.raises(DatasetError, match=r'float.tif: 32-bit floating-point photo, whose range .* unknown'):
        load_rgb(path)


def _palette_with_transparency(path):
    image = Image.fromarray(np.array([[0, 1], [2, 3]], dtype=np.uint8), 'L').convert('P')
    image.putpalette([10, 20, 30, 200, 100, 0, 0, 0, 255, 255, 255, 255])
    image.save(path, transparency=1)


PHOTO_MODES = {
    'palette.png': _palette_with_transparency,
    'la.png': lambda p: Image.new('LA', (2, 2), (90, 0)).save(p),
    'rgba.png': lambda p: Image.new('RGBA', (2, 2), (10, 200, 30, 0)).save(p),
    'cmyk.jpg': lambda p: Image.new('CMYK', (2, 2), (0, 128, 255, 20)).save(p),
    'bilevel.png': lambda p: Image.fromarray(np.array([[True, False]])).save(p),
    'grey.jpg': lambda p: Image.new('L', (2, 2), 77).save(p),
}


@pytest.mark.parametrize('name', sorted(PHOTO_MODES))
def test_8bit_photo_modes_convert_as_in_spade(tmp_path, name):
    """Alpha dropped, palette looked up, CMYK converted: Pillow's convert('RGB'), byte for byte."""
    path = str(tmp_path / name)
    PHOTO_MODES[name](path)
    assert np.array_equal(rgb(path), np.asarray(Image.open(path).convert('RGB')))


def test_photo_mode_without_an_rgb_conversion_is_named(monkeypatch):
    import data.image_io
    monkeypatch.setattr(data.image_io, 'open_image', lambda path: Image.new('La', (2, 2)))  # no file opens as 'La'
    with pytest.raises(DatasetError, match=r"x.png: cannot convert a photo of mode 'La' to RGB"):
        load_rgb('x.png')


# ---------------------------------------------------------------------------- lossy label files
def _labels(size=(8, 8)) -> np.ndarray:
    return np.tile(np.array([0, 3, 7, 12], dtype=np.uint8).repeat(size[0] // 4), (size[1], 1))


LOSSY = {
    'label.jpg': ({'format': 'JPEG', 'quality': 100}, 'JPEG'),
    'jpeg_named.png': ({'format': 'JPEG', 'quality': 95}, 'JPEG'),
    'lossy.webp': ({'format': 'WEBP', 'quality': 90}, 'lossy WebP'),
    'jpeg.tif': ({'format': 'TIFF', 'compression': 'jpeg'}, 'JPEG-compressed TIFF'),
}


@pytest.mark.parametrize('name', sorted(LOSSY))
def test_label_map_in_a_lossy_format_is_refused(tmp_path, name):
    save_args, kind = LOSSY[name]
    path = str(tmp_path / name)
    Image.fromarray(np.stack([_labels()] * 3, axis=2) if 'tif' in name else _labels()).save(path, **save_args)
    with pytest.raises(DatasetError, match=rf'{name}: label map stored as {kind}, a lossy format .*save it as PNG'):
        load_index_map(path)


def test_lossless_webp_label_map_is_accepted(tmp_path):
    path = str(tmp_path / 'lossless.webp')
    Image.fromarray(np.stack([_labels()] * 3, axis=2)).save(path, lossless=True)
    assert np.array_equal(load_index_map(path), _labels())


def test_jpeg_label_and_instance_maps_are_refused_at_start_up(tmp_path):
    tree = build_custom(str(tmp_path), names=('a', 'b'), instances=True)
    args = ('--dataset_mode', 'custom', '--label_dir', tree['label_dir'], '--image_dir', tree['image_dir'],
            '--instance_dir', tree['instance_dir'], '--crop_size', '32')
    os.remove(os.path.join(tree['instance_dir'], 'a.png'))
    write_image(os.path.join(tree['instance_dir'], 'a.jpg'), np.zeros((32, 48), dtype=np.uint8))
    with pytest.raises(DatasetError, match=r'instances/\*: 1 instance map\(s\) saved as JPEG \(first: a.jpg\); '):
        data.create_dataset(inference_opt(*args))
    os.remove(os.path.join(tree['label_dir'], 'b.png'))
    write_image(os.path.join(tree['label_dir'], 'b.JPEG'), np.zeros((32, 48), dtype=np.uint8), format='JPEG')
    with pytest.raises(DatasetError, match=r'labels/\*: 1 label map\(s\) saved as JPEG \(first: b.JPEG\); '):
        data.create_dataset(inference_opt(*args))


def test_jpeg_part_mask_is_refused(tmp_path):
    path = write_image(str(tmp_path / 'mask.png'), np.full((4, 4), 255, dtype=np.uint8), format='JPEG')
    with pytest.raises(DatasetError, match=r'mask.png: mask stored as JPEG'):
        load_mask(path)


def test_16bit_colour_png_label_map_is_refused(tmp_path):
    # Pillow would read 7 as the high byte of 0x0007, i.e. 0: every class gone
    path = write_png16(str(tmp_path / 'rgb16.png'), np.full((2, 2, 3), 7, dtype=np.uint16))
    with pytest.raises(DatasetError, match=r'rgb16.png: 16-bit colour PNG label map; .*grayscale'):
        load_index_map(path)
    assert load_index_map(write_image(str(tmp_path / 'grey16.png'), np.full((2, 2), 7, np.uint16))).tolist() == \
        [[7, 7], [7, 7]]


# ---------------------------------------------------------------------------- alpha in label maps and masks
def test_label_maps_with_alpha_give_their_indices(tmp_path):
    indices = np.array([[0, 5], [12, 3]], dtype=np.uint8)
    alpha = np.array([[255, 0], [255, 128]], dtype=np.uint8)
    la = write_image(str(tmp_path / 'la.png'), np.stack([indices, alpha], axis=2))
    rgba = write_image(str(tmp_path / 'rgba.png'), np.stack([indices] * 3 + [alpha], axis=2))
    palette = Image.fromarray(indices, 'L').convert('P')
    palette.putpalette([v for i in range(256) for v in (i, 255 - i, 0)])
    palette.save(tmp_path / 'p.png', transparency=5)  # index 5 transparent: still class 5
    for path in (la, rgba, str(tmp_path / 'p.png')):
        assert load_index_map(path).tolist() == indices.tolist(), path


def test_mask_with_alpha_is_one_plane(tmp_path):
    mask = np.stack([np.array([[0, 255]], dtype=np.uint8), np.full((1, 2), 255, np.uint8)], axis=2)
    assert load_mask(write_image(str(tmp_path / 'la.png'), mask)).tolist() == [[False, True]]
