"""SPADE's preprocess modes: output sizes, one geometry for label, instance and photo, nearest labels."""
import argparse

import numpy as np
import pytest
from PIL import Image

import data
from data.geometry import Geometry, apply_geometry, apply_to_array, plan_geometry
from data_fixtures import build_custom, colour_of, train_opt
from util.errors import DatasetError


def opt_for(mode, load=40, crop=32, aspect=1.0, train=True, flip=True, fix=True):
    return argparse.Namespace(preprocess_mode=mode, load_size=load, crop_size=crop, aspect_ratio=aspect,
                              isTrain=train, no_flip=not flip, preprocess_fix=fix)


@pytest.mark.parametrize('mode, size, load, crop, aspect, expected', [
    ('resize_and_crop', (48, 40), 40, 32, 1.0, (32, 32)),
    ('resize_and_crop', (48, 40), 40, 32, 2.0, (32, 16)),
    ('crop', (48, 40), 0, 32, 1.0, (32, 32)),
    ('scale_width', (48, 32), 24, 0, 1.0, (24, 16)),
    ('scale_width_and_crop', (48, 32), 40, 24, 1.0, (24, 24)),
    ('scale_shortside', (48, 32), 16, 0, 1.0, (24, 16)),
    ('scale_shortside', (32, 48), 16, 0, 1.0, (16, 24)),
    ('scale_shortside_and_crop', (48, 32), 40, 32, 1.0, (32, 32)),
    ('fixed', (48, 40), 0, 64, 2.0, (64, 32)),
    ('none', (48, 40), 0, 0, 1.0, (64, 32)),
    ('none', (10, 10), 0, 0, 1.0, (32, 32)),
])
def test_output_sizes_with_preprocess_fix(mode, size, load, crop, aspect, expected):
    geometry = plan_geometry(opt_for(mode, load, crop, aspect), size, 'x.png')
    assert geometry.output_size == expected
    image = Image.new('RGB', size)
    assert apply_geometry(image, geometry, Image.Resampling.BICUBIC).size == expected


@pytest.mark.parametrize('mode, size, load, crop, aspect, expected', [
    ('resize_and_crop', (48, 40), 40, 32, 2.0, (32, 32)),   # SPADE resizes and crops squares
    ('scale_shortside', (48, 32), 16, 0, 1.0, (24, 32)),    # SPADE keeps the short side, scales the long
    ('scale_shortside', (32, 48), 16, 0, 1.0, (32, 24)),
    ('scale_shortside', (300, 200), 256, 0, 1.0, (384, 200)),
    ('scale_width', (300, 200), 256, 0, 1.0, (256, 170)),
    ('fixed', (48, 40), 0, 64, 2.0, (64, 32)),
])
def test_output_sizes_are_spades_by_default(mode, size, load, crop, aspect, expected):
    geometry = plan_geometry(opt_for(mode, load, crop, aspect, fix=False), size, 'x.png')
    assert geometry.output_size == expected


def test_crop_larger_than_the_scaled_image_is_an_error_with_preprocess_fix():
    with pytest.raises(DatasetError, match=r'wide.png: 64x21 after --preprocess_mode scale_width_and_crop is smaller '
                                           r'than the 32x32 crop; lower --crop_size or raise --load_size'):
        plan_geometry(opt_for('scale_width_and_crop', load=64, crop=32), (300, 100), 'wide.png')


def test_crop_larger_than_the_scaled_image_pads_with_black_by_default(monkeypatch):
    import data.geometry
    monkeypatch.setattr(data.geometry, '_warned_padding', False)
    with pytest.warns(UserWarning, match='wide.png: 64x21 .* padded with black'):
        geometry = plan_geometry(opt_for('scale_width_and_crop', load=64, crop=32, fix=False), (300, 100), 'wide.png')
    labels = np.full((100, 300), 7, np.uint8)
    out = apply_to_array(labels, geometry)
    assert out.shape == (32, 32) and (out[:21] == 7).all() and (out[21:] == 0).all()  # as SPADE's PIL crop pads


def test_flips_only_when_training_without_no_flip():
    flips = {plan_geometry(opt_for('crop', crop=8), (16, 16), 'x').flip for _ in range(64)}
    assert flips == {True, False}
    assert not any(plan_geometry(opt_for('crop', crop=8, train=False), (16, 16), 'x').flip for _ in range(32))
    assert not any(plan_geometry(opt_for('crop', crop=8, flip=False), (16, 16), 'x').flip for _ in range(32))


def test_labels_stay_class_values_under_resampling():
    labels = np.random.default_rng(0).choice(np.array([3, 77, 200], dtype=np.uint8), size=(37, 53))
    geometry = plan_geometry(opt_for('resize_and_crop', load=61, crop=48), (53, 37), 'x')
    assert set(np.unique(apply_to_array(labels, geometry))) <= {3, 77, 200}
    ids = labels.astype(np.int32) * 1000 + 33001
    assert set(np.unique(apply_to_array(ids, geometry))) <= set(np.unique(ids))


def test_smaller_label_follows_the_photo_geometry():
    geometry = Geometry(source=(8, 8), crop=(2, 0, 4, 4))
    small = np.arange(16, dtype=np.uint8).reshape(4, 4)  # the label at half the photo's size
    assert apply_to_array(small, geometry).tolist() == [[1, 1, 2, 2]] * 2 + [[5, 5, 6, 6]] * 2


def test_unflipped_geometry_mirrors_the_source_instead():
    rng = np.random.default_rng(1)
    picture = rng.integers(0, 255, size=(20, 30), dtype=np.uint8)
    geometry = plan_geometry(opt_for('scale_width_and_crop', load=30, crop=12), (30, 20), 'x')
    geometry = Geometry(geometry.source, geometry.resize, geometry.crop, geometry.final, flip=True)
    direct = apply_to_array(picture, geometry)
    via_source = apply_to_array(np.ascontiguousarray(picture[:, ::-1]), geometry.unflipped())
    assert np.array_equal(direct, via_source)


@pytest.mark.parametrize('mode, exact', [('crop', True), ('resize_and_crop', False),
                                         ('scale_shortside_and_crop', False)])
def test_label_and_photo_get_the_same_geometry(tmp_path, mode, exact):
    tree = build_custom(str(tmp_path), names=tuple('abcdef'), size=(56, 40))
    opt = train_opt('--dataset_mode', 'custom', '--label_dir', tree['label_dir'], '--image_dir', tree['image_dir'],
                    '--preprocess_mode', mode, '--load_size', '48', '--crop_size', '32')
    dataset = data.create_dataset(opt)
    for i in range(len(dataset)):
        item = dataset[i]
        expected = colour_of(item['label'][0].numpy())
        photo = np.rint((item['image'].numpy().transpose(1, 2, 0) + 1) * 127.5)
        matches = (np.abs(photo - expected).max(axis=2) <= (0 if exact else 40)).mean()
        assert matches >= (1.0 if exact else 0.85), (mode, i, matches)
