"""DeepFashion poses: OpenPose files -> CoCosNet's 20-channel dense map, pixel for pixel.

Expected values come from OpenCV's rules and from ``cocosnet_maps`` / ``cocosnet_label``
below, a step-by-step restatement of CoCosNet's ``get_label_tensor`` (its
``data/deepfashion_dataset.py``) written for these tests, never from data.pose_render."""
import math
import os
import random

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

import data
from data import geometry
from data.openpose import mirror_keypoints, read_keypoints
from data.pose_render import LIMBS, OPENPOSE_COLOURS, render_pose
from data_fixtures import POSE, build_deepfashion, inference_opt, train_opt, write_openpose
from util.errors import DatasetError

NO_POSE = np.full((18, 2), np.nan)
# CoCosNet's tables (1-based keypoint pairs; OpenPose's colours, given to OpenCV as BGR)
COCOSNET_LIMBS = [[2, 3], [2, 6], [3, 4], [4, 5], [6, 7], [7, 8], [2, 9], [9, 10], [10, 11], [2, 12], [12, 13],
                  [13, 14], [2, 1], [1, 15], [15, 17], [1, 16], [16, 18]]
COCOSNET_BGR = [[255, 0, 0], [255, 85, 0], [255, 170, 0], [255, 255, 0], [170, 255, 0], [85, 255, 0], [0, 255, 0],
                [0, 255, 85], [0, 255, 170], [0, 255, 255], [0, 170, 255], [0, 85, 255], [0, 0, 255],
                [85, 0, 255], [170, 0, 255], [255, 0, 255], [255, 0, 170], [255, 0, 85]]


def with_points(**points) -> np.ndarray:
    keypoints = NO_POSE.copy()
    for index, xy in points.items():
        keypoints[int(index[1:])] = xy
    return keypoints


def cocosnet_maps(pose_base: str, image_path: str) -> tuple:
    """CoCosNet's drawing at the photo's size: uint8 RGB picture (H,W,3), uint8 distances (17,H,W)."""
    candidate = np.loadtxt(pose_base + '_candidate.txt')
    subset = np.loadtxt(pose_base + '_subset.txt')  # one person: a flat row
    canvas = np.zeros_like(cv2.imread(image_path))  # the canvas takes the size OpenCV reads
    for k in range(18):
        if int(subset[k]) != -1:
            x, y = candidate[int(subset[k])][:2]
            cv2.circle(canvas, (int(x), int(y)), 4, COCOSNET_BGR[k], thickness=-1)
    limb_masks = []
    for i, pair in enumerate(COCOSNET_LIMBS):
        ids = subset[np.array(pair) - 1]
        if -1 in ids:
            limb_masks.append(np.zeros(canvas.shape[:2], np.uint8))  # nothing drawn: no zero to measure from
            continue
        xs, ys = candidate[ids.astype(int), 0], candidate[ids.astype(int), 1]
        length = ((ys[0] - ys[1]) ** 2 + (xs[0] - xs[1]) ** 2) ** 0.5
        angle = math.degrees(math.atan2(ys[0] - ys[1], xs[0] - xs[1]))
        polygon = cv2.ellipse2Poly((int(np.mean(xs)), int(np.mean(ys))), (int(length / 2), 4), int(angle), 0, 360, 1)
        drawn = canvas.copy()
        cv2.fillConvexPoly(drawn, polygon, COCOSNET_BGR[i])
        canvas = cv2.addWeighted(canvas, 0.4, drawn, 0.6, 0)
        mask = np.zeros(canvas.shape[:2], np.uint8)
        cv2.fillConvexPoly(mask, polygon, 255)
        limb_masks.append(mask)
    distances = [np.clip(cv2.distanceTransform(255 - m, cv2.DIST_L1, 3) / 3, 0, 255).astype(np.uint8)
                 for m in limb_masks]
    return cv2.cvtColor(canvas, cv2.COLOR_BGR2RGB), np.stack(distances)


def cocosnet_label(maps: tuple, load_size: int, crop_size: int, crop_xy: tuple) -> torch.Tensor:
    """CoCosNet's resize_and_crop of those maps: the picture to load_size^2 nearest, each
    distance map to load_size^2 bilinear (8-bit), then the crop, then ToTensor (/255)."""
    picture, distances = maps
    x, y = crop_xy
    box = (x, y, x + crop_size, y + crop_size)
    pose = Image.fromarray(picture).resize((load_size, load_size), Image.NEAREST).crop(box)
    planes = [np.asarray(pose).transpose(2, 0, 1)]
    planes += [np.asarray(Image.fromarray(d).resize((load_size, load_size), Image.BILINEAR).crop(box))[None]
               for d in distances]
    return torch.from_numpy(np.concatenate(planes)).float().div(255)


def brute_l1_distance(mask: np.ndarray) -> np.ndarray:
    """min over the mask's pixels of |dx| + |dy|, for every pixel (small canvases only)."""
    rows, cols = np.nonzero(mask)
    yy, xx = np.indices(mask.shape)
    return (np.abs(yy[..., None] - rows) + np.abs(xx[..., None] - cols)).min(axis=-1)


def test_tables_are_cocosnets():
    assert [list(p) for p in LIMBS] == COCOSNET_LIMBS and [list(c) for c in OPENPOSE_COLOURS] == COCOSNET_BGR


def test_disc_is_opencvs_filled_radius_4_circle_in_rgb():
    picture, distances = render_pose(with_points(k7=(10, 12)), (24, 20))
    inside = picture.any(axis=2)
    # cv2.circle(radius 4, filled) paints 49 pixels in rows of 1,5,7,7,9,7,7,5,1 (the old own
    # rasteriser painted 69: every pixel within 4.5 of the centre)
    assert inside.sum() == 49 and inside.sum(axis=1)[8:17].tolist() == [1, 5, 7, 7, 9, 7, 7, 5, 1]
    assert inside[12, 6:15].all() and not inside[12, 5] and not inside[12, 15] and inside[8, 10] and not inside[8, 9]
    assert picture[12, 10].tolist() == COCOSNET_BGR[7][::-1]  # drawn as BGR, stored as RGB
    assert distances.shape == (17, 20, 24) and distances.dtype == np.uint8
    assert (distances == 255).all()  # no limb: OpenCV's FLT_MAX distance, clipped (not wrapped) to 255


def test_keypoints_are_truncated_not_rounded():
    truncated, _ = render_pose(with_points(k7=(10.9, 12.9)), (24, 20))
    assert np.array_equal(truncated, render_pose(with_points(k7=(10, 12)), (24, 20))[0])


HORIZONTAL_LIMB = with_points(k1=(10, 20), k2=(30, 20))  # limb 0, neck -> right shoulder, 20 px long


def limb_pixels(keypoints: np.ndarray, a: int, b: int, size: tuple) -> np.ndarray:
    """The pixels the limb a-b changed: its picture against that of its two discs alone."""
    discs = render_pose(with_points(**{f'k{a}': keypoints[a]}), size)[0] | \
        render_pose(with_points(**{f'k{b}': keypoints[b]}), size)[0]
    return (render_pose(keypoints, size)[0] != discs).any(axis=2)


def test_limb_is_opencvs_filled_ellipse_blended_over_discs():
    assert LIMBS[0] == (2, 3)  # keypoints 1 and 2
    limb = limb_pixels(HORIZONTAL_LIMB, 1, 2, (40, 40))
    # cv2.ellipse2Poly + cv2.fillConvexPoly, outline included: 157 pixels (the old own
    # rasteriser drew 149), 21 columns x 9 rows at most
    assert limb.sum() == 157 and limb[20].sum() == 21 and limb[:, 20].sum() == 9
    assert limb[20, 10] and limb[20, 30] and not limb[20, 9] and limb[16, 20] and not limb[15, 20]
    opencv = np.zeros((40, 40), np.uint8)  # centre (20, 20), half-axes (10, 4), at 180 degrees
    cv2.fillConvexPoly(opencv, cv2.ellipse2Poly((20, 20), (10, 4), 180, 0, 360, 1), 1)
    assert np.array_equal(limb, opencv == 1)
    picture = render_pose(HORIZONTAL_LIMB, (40, 40))[0]
    limb_colour = np.array(COCOSNET_BGR[0][::-1])
    assert picture[20, 20].tolist() == np.rint(0.6 * limb_colour).tolist()  # over black
    disc = np.array(COCOSNET_BGR[1][::-1])
    assert picture[20, 10].tolist() == np.rint(0.4 * disc + 0.6 * limb_colour).tolist()
    assert picture[20, 6].tolist() == disc.tolist()  # the disc's rim outside the limb is untouched


def test_limb_distance_is_l1_over_3_floored():
    distances = render_pose(HORIZONTAL_LIMB, (40, 40))[1]
    limb = distances[0]
    assert limb[30, 20] == 2 and limb[39, 20] == 5  # 6 and 15 rows below the limb's edge (row 24): /3, floored
    assert limb[20, 0] == 3 and limb[20, 39] == 3  # 10 and 9 columns beyond its ends (x=10, x=30)
    # city-block distance (not Euclidean) to the limb's pixels, everywhere
    assert np.array_equal(limb, brute_l1_distance(limb_pixels(HORIZONTAL_LIMB, 1, 2, (40, 40))) // 3)
    assert (distances[1:] == 255).all()


def test_limb_with_a_missing_or_off_canvas_end_is_not_drawn():
    picture, distances = render_pose(with_points(k1=(10, 20)), (40, 40))
    assert (distances == 255).all() and picture.any(axis=2).sum() == 49  # the disc alone
    picture, distances = render_pose(with_points(k1=(100, 120), k2=(130, 120)), (40, 40))
    assert (distances == 255).all() and not picture.any()


def test_random_poses_match_cocosnet_pixel_for_pixel(tmp_path):
    rng = np.random.default_rng(0)
    size = (176, 256)  # DeepFashion's photo size
    image_path = str(tmp_path / 'photo.jpg')
    Image.new('RGB', size).save(image_path)
    for n in range(12):
        base = str(tmp_path / f'pose{n}')
        centre = rng.uniform([40, 60], [136, 196])
        keypoints = centre + rng.normal(0, 45, size=(18, 2))  # fractional, some off the canvas
        write_openpose(base, keypoints, missing=tuple(np.flatnonzero(rng.random(18) < 0.15)))
        picture, distances = render_pose(read_keypoints(base + '_candidate.txt', base + '_subset.txt'), size)
        expected_picture, expected_distances = cocosnet_maps(base, image_path)
        assert np.array_equal(picture, expected_picture), n
        assert np.array_equal(distances, expected_distances), n


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


def cocosnet_pose_base(image_path: str) -> str:
    """CoCosNet's way from a photo to its OpenPose files: img -> pose, drop .jpg."""
    return image_path.replace(os.sep, '/').replace('/img/', '/pose/').replace('.jpg', '')


def test_dataset_label_is_cocosnets_drawing_at_native_size(tmp_path):
    # photos whose sides are multiples of 32: --preprocess_mode none leaves the label at the
    # photo's size, so it must be CoCosNet's drawing itself, exactly
    root = build_deepfashion(str(tmp_path), n_train=2, n_val=0, size=(64, 96), missing=(4, 10))['dataroot']
    dataset = data.create_dataset(fashion_opt(root, '--preprocess_mode', 'none', '--no_flip'))
    for i, sample in enumerate(dataset.samples):
        picture, distances = cocosnet_maps(cocosnet_pose_base(sample.image), sample.image)
        expected = torch.from_numpy(np.concatenate([picture.transpose(2, 0, 1), distances])).float().div(255)
        assert torch.equal(dataset[i]['label'], expected)


@pytest.mark.parametrize('size,load_size,crop_size,test', [((48, 64), 36, 32, False), ((48, 64), 36, 32, True),
                                                           ((176, 256), 286, 256, False)])
def test_dataset_label_is_cocosnets_after_resize_and_crop(tmp_path, size, load_size, crop_size, test):
    root = build_deepfashion(str(tmp_path), n_train=2, n_val=1, size=size)['dataroot']
    sizes = ('--load_size', str(load_size), '--crop_size', str(crop_size))
    opt = (inference_opt if test else train_opt)('--dataset_mode', 'deepfashion', '--dataroot', root, '--no_flip',
                                                 *sizes)  # CoCosNet trains with --no_flip
    dataset = data.create_dataset(opt)
    for i, sample in enumerate(dataset.samples):
        random.seed(i)
        label = dataset[i]['label']
        random.seed(i)  # CoCosNet's get_params draws the crop's x, then its y, from the same stream
        crop_xy = (random.randint(0, load_size - crop_size), random.randint(0, load_size - crop_size))
        expected = cocosnet_label(cocosnet_maps(cocosnet_pose_base(sample.image), sample.image), load_size,
                                  crop_size, crop_xy)
        assert label.shape == expected.shape == (20, crop_size, crop_size)
        assert torch.equal(label[:3], expected[:3])  # nearest: the drawn pixels themselves
        assert (label - expected).abs().max() <= 1 / 255 + 1e-6  # bilinear: within one grey level


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


def test_list_that_is_not_utf8_names_the_line(tmp_path):
    root = build_deepfashion(str(tmp_path), n_train=1, n_val=0)['dataroot']
    with open(os.path.join(root, 'train.txt'), 'ab') as handle:
        handle.write(b'\nimg\\MEN\\Denim\\caf\xe9.jpg\n')
    with pytest.raises(DatasetError, match=r'train.txt: line 3 is not UTF-8 text'):
        data.create_dataset(fashion_opt(root))


def test_a_symbolic_link_loop_under_pose_does_not_hang(tmp_path):
    from helpers import run_with_deadline
    root = build_deepfashion(str(tmp_path), n_train=2, n_val=0)['dataroot']
    os.symlink(os.path.join(root, 'pose'), os.path.join(root, 'pose', 'MEN', 'loop'))
    dataset, messages = run_with_deadline(data.create_dataset, fashion_opt(root))
    assert len(dataset) == 2 and any('loop: skipped' in m for m in messages)
