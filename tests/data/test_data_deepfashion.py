"""DeepFashion poses: OpenPose files -> CoCosNet's 20-channel dense map, drawn without OpenCV."""
import os

import numpy as np
import pytest
import torch

import data
from data import geometry
from data.openpose import mirror_keypoints, read_keypoints
from data.pose_render import LIMBS, OPENPOSE_COLOURS, render_pose
from data_fixtures import POSE, build_deepfashion, inference_opt, train_opt, write_openpose
from util.errors import DatasetError

NO_POSE = np.full((18, 2), np.nan)


def with_points(**points) -> np.ndarray:
    keypoints = NO_POSE.copy()
    for index, xy in points.items():
        keypoints[int(index[1:])] = xy
    return keypoints


def test_disc_in_openpose_colour_as_cocosnet_stores_it():
    picture, distances = render_pose(with_points(k7=(10, 12)), (24, 20))
    inside = picture.any(axis=2)
    assert inside.sum() == 69  # pixels within 4.5 of the centre: a radius-4 disc with its rim
    assert picture[12, 10].tolist() == list(OPENPOSE_COLOURS[7][::-1])  # BGR drawing, RGB storage
    assert inside[12, 6] and inside[12, 14] and not inside[12, 5] and not inside[7, 10]
    assert distances.shape == (17, 20, 24) and (distances == 255).all()  # no limb: every distance map at its maximum


def test_limb_is_blended_over_discs_and_has_an_l1_distance_map():
    picture, distances = render_pose(with_points(k1=(10, 20), k2=(30, 20)), (40, 40))
    assert LIMBS[0] == (2, 3)  # neck -> right shoulder, keypoints 1 and 2
    limb_colour = np.array(OPENPOSE_COLOURS[0][::-1])
    assert picture[20, 20].tolist() == np.rint(0.6 * limb_colour).tolist()
    disc = np.array(OPENPOSE_COLOURS[1][::-1])
    assert picture[20, 10].tolist() == np.rint(0.4 * disc + 0.6 * limb_colour).tolist()
    limb = distances[0]
    assert limb[16:25, 20].tolist() == [0] * 9  # half-width 4 around row 20
    assert limb[30, 20] == 2 and limb[39, 20] == 5  # 6 and 15 rows away, /3
    assert limb[20, 0] == 3  # 10 columns left of the limb's end at x=10
    assert (distances[1:] == 255).all()


def test_mirroring_swaps_left_and_right():
    keypoints = with_points(k4=(10, 5))  # right wrist
    mirrored = mirror_keypoints(keypoints, width=40)
    assert np.isnan(mirrored[4]).all() and mirrored[7].tolist() == [29, 5]  # left wrist, mirrored


def test_reading_openpose_files(tmp_path):
    base = str(tmp_path / 'x')
    write_openpose(base, POSE, missing=(4, 10))
    keypoints = read_keypoints(base + '_candidate.txt', base + '_subset.txt')
    assert np.isnan(keypoints[[4, 10]]).all()
    assert np.allclose(keypoints[[0, 17]], POSE[[0, 17]], atol=1e-3)
    with open(base + '_subset.txt', 'w') as handle:
        handle.write('')
    assert np.isnan(read_keypoints(base + '_candidate.txt', base + '_subset.txt')).all()  # nobody found
    with open(base + '_subset.txt', 'w') as handle:
        handle.write(' '.join(['40'] * 18 + ['1', '18']))
    with pytest.raises(DatasetError, match=r'_subset.txt: keypoint 0 refers to candidate 40 but .* has 16 rows'):
        read_keypoints(base + '_candidate.txt', base + '_subset.txt')


@pytest.fixture(scope='module')
def fashion(tmp_path_factory):
    return build_deepfashion(str(tmp_path_factory.mktemp('fashion')))


def fashion_opt(root, *extra, test=False):
    argv = ('--dataset_mode', 'deepfashion', '--dataroot', root, '--load_size', '36', '--crop_size', '32') + extra
    return inference_opt(*argv) if test else train_opt(*argv)


def test_defaults():
    opt = train_opt('--dataset_mode', 'deepfashion', '--dataroot', 'x')
    assert (opt.label_nc, opt.contain_dontcare_label, opt.no_instance, opt.semantic_nc) == (20, False, True, 20)
    assert (opt.preprocess_mode, opt.load_size, opt.crop_size) == ('resize_and_crop', 286, 256)


def test_dense_20_channel_label_from_the_split_lists(fashion):
    dataset = data.create_dataset(fashion_opt(fashion['dataroot'], '--no_flip'))
    assert len(dataset) == 3
    assert dataset.samples[1].image.endswith(os.path.join('img', 'WOMEN', 'Denim', 'id_00000001', '02_1_front.jpg'))
    item = dataset[0]
    label = item['label']
    assert label.dtype == torch.float32 and label.shape == (20, 32, 32) and item['image'].shape == (3, 32, 32)
    assert 0 <= label.min() and label.max() <= 1 and item['instance'] == 0
    assert (label[3 + 3] == 1).all()  # limb 3 (elbow -> right wrist) is missing: maximal distance everywhere
    present = [i for i in range(17) if i != 3]
    assert all(label[3 + i].min() == 0 for i in present)
    assert label[:3].sum() > 0
    val = data.create_dataset(fashion_opt(fashion['dataroot'], test=True))
    assert len(val) == 1 and val.samples[0].image.endswith('04_1_front.jpg')


def test_flip_draws_the_mirrored_pose_not_a_mirrored_picture(fashion, monkeypatch):
    opt = fashion_opt(fashion['dataroot'], '--preprocess_mode', 'none')
    dataset = data.create_dataset(opt)
    monkeypatch.setattr(geometry.random, 'random', lambda: 0.9)  # flip every sample
    flipped = dataset[0]['label']
    monkeypatch.setattr(geometry.random, 'random', lambda: 0.1)
    plain = dataset[0]['label']
    assert not torch.equal(flipped, plain.flip(-1))  # colours follow left/right, not positions
    # distances of limb 'neck -> left shoulder' (1) in the flipped sample are those of
    # 'neck -> right shoulder' (0) mirrored
    assert torch.allclose(flipped[3 + 1], plain[3 + 0].flip(-1), atol=0.02)


def test_listed_image_without_pose_is_named(tmp_path):
    root = build_deepfashion(str(tmp_path), n_train=2, n_val=0)['dataroot']
    os.remove(os.path.join(root, 'pose', 'WOMEN', 'Denim', 'id_00000001', '02_1_front_subset.txt'))
    with pytest.raises(DatasetError, match=r'train.txt: 1 listed files are missing from the OpenPose files .*'
                                           r'pose/WOMEN/Denim/id_00000001/02_1_front_subset.txt'):
        data.create_dataset(fashion_opt(root))


def test_bad_list_line_is_named(tmp_path):
    root = build_deepfashion(str(tmp_path), n_train=1, n_val=0)['dataroot']
    with open(os.path.join(root, 'train.txt'), 'a') as handle:
        handle.write('photos\\x.jpg\n')
    with pytest.raises(DatasetError, match=r'train.txt: line 2 is .photos\\x.jpg., expected an image path'):
        data.create_dataset(fashion_opt(root))
