"""Builders of tiny dataset trees with each dataset's real layout, names and encodings.

Each ``build_*`` writes under ``root`` and returns what a test needs to check the loader
(the dataroot and, per sample, the label values written). Label maps are made of vertical
stripes whose values are known, so a test can check values after any resize or crop.
Sizes are parameters: the tests use tiny images, the benchmark realistic ones.
"""
import argparse
import copy
import os
from functools import lru_cache
from typing import Sequence

import numpy as np
from PIL import Image


def train_opt(*argv: str, **overrides) -> argparse.Namespace:
    """Options as ``train.py argv`` parses them, then ``overrides`` set on a copy."""
    return _with(_parse('train', argv), overrides)


def inference_opt(*argv: str, **overrides) -> argparse.Namespace:
    return _with(_parse('test', argv), overrides)


@lru_cache(maxsize=None)
def _parse(kind: str, argv: tuple) -> argparse.Namespace:
    # parsing costs ~0.1 s (it imports and asks every setter): once per distinct command line
    from options.test_options import TestOptions
    from options.train_options import TrainOptions
    options = TrainOptions() if kind == 'train' else TestOptions()
    return options.parse(list(argv), save=False, verbose=False)


def _with(opt: argparse.Namespace, overrides: dict) -> argparse.Namespace:
    opt = copy.deepcopy(opt)
    for key, value in overrides.items():
        setattr(opt, key, value)
    return opt


def write_image(path: str, array: np.ndarray, **save_args) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(array).save(path, **save_args)
    return path


def stripes(values: Sequence[int], size: tuple, dtype=np.uint8) -> np.ndarray:
    """(h, w) map of equal-width vertical stripes holding ``values`` left to right."""
    w, h = size
    columns = np.array(values, dtype=dtype)[np.arange(w) * len(values) // w]
    return np.tile(columns, (h, 1))


def photo(size: tuple, seed: int) -> np.ndarray:
    """A smooth random RGB picture (compresses well, like a photo)."""
    w, h = size
    rng = np.random.default_rng(seed)
    base = rng.integers(40, 215, size=3)
    ramp = np.linspace(0, 40, w)[None, :, None] + np.linspace(0, 30, h)[:, None, None]
    return np.clip(base + ramp, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------- ADE20K
def build_ade20k(root: str, n_train: int = 3, n_val: int = 2, size: tuple = (48, 32)) -> dict:
    """ADEChallengeData2016 as downloaded: values 0 (unlabeled) .. 150."""
    base = os.path.join(root, 'ADEChallengeData2016')
    labels = {}
    for split, folder, count in (('train', 'training', n_train), ('val', 'validation', n_val)):
        for i in range(1, count + 1):
            name = f'ADE_{split}_{i:08d}'
            values = [0, i, 150 - i, 150]
            write_image(os.path.join(base, 'images', folder, name + '.jpg'), photo(size, i), quality=90)
            write_image(os.path.join(base, 'annotations', folder, name + '.png'), stripes(values, size))
            labels[name] = values
    return {'dataroot': base, 'labels': labels}


# ---------------------------------------------------------------------------- Cityscapes
CITY_INSTANCES = (7, 26001, 33001, 24000)  # road (stuff id), car #1, bicycle #1, person #0


def build_cityscapes(root: str, cities: Sequence[str] = ('aachen', 'bochum'), per_city: int = 2,
                     splits: Sequence[str] = ('train', 'val'), size: tuple = (64, 32)) -> dict:
    """leftImg8bit + gtFine with 8-bit labelIds, 16-bit instanceIds, colour and polygon files."""
    labels = {}
    for split in splits:
        for city in cities:
            for k in range(per_city):
                stem = f'{city}_{k:06d}_{19 + k:06d}'
                values = [7, 26, 33, 24 + k]
                gt = os.path.join(root, 'gtFine', split, city, stem + '_gtFine_')
                write_image(os.path.join(root, 'leftImg8bit', split, city, stem + '_leftImg8bit.png'),
                            photo(size, len(labels)))
                write_image(gt + 'labelIds.png', stripes(values, size))
                write_image(gt + 'instanceIds.png', stripes(CITY_INSTANCES, size, dtype=np.uint16))
                label = stripes(values, size)
                write_image(gt + 'color.png', np.stack([label * 5, label * 3, label * 7], axis=2))
                with open(gt + 'polygons.json', 'w') as handle:
                    handle.write('{"imgHeight": %d, "imgWidth": %d, "objects": []}' % (size[1], size[0]))
                labels[stem] = values
    return {'dataroot': root, 'labels': labels}


# ---------------------------------------------------------------------------- COCO-Stuff
def build_coco(root: str, n_train: int = 3, n_val: int = 2, size: tuple = (40, 32), portraits: int = 0) -> dict:
    """SPADE's COCO-Stuff folders; labels 0..181 and 255 (unlabeled), 8-bit instance maps."""
    labels = {}
    for phase, count in (('train', n_train), ('val', n_val)):
        for suffix, extra in (('', count), ('_portrait', portraits if phase == 'train' else 0)):
            for i in range(extra):
                stem = f'{len(labels) + 1:012d}'
                values = [0, 181, 255, i]
                write_image(os.path.join(root, f'{phase}_img{suffix}', stem + '.jpg'), photo(size, i), quality=90)
                write_image(os.path.join(root, f'{phase}_label{suffix}', stem + '.png'), stripes(values, size))
                write_image(os.path.join(root, f'{phase}_inst{suffix}', stem + '.png'), stripes([0, 1, 2, 3], size))
                labels[stem] = values
    return {'dataroot': root, 'labels': labels}


# ---------------------------------------------------------------------------- CelebAMask-HQ
RAW_PARTS = ('skin', 'nose', 'eye_g', 'hair', 'cloth')  # a subset of the 18, in the release's order


def _part_mask(part: str, size: int) -> np.ndarray:
    """Binary 0/255 masks that overlap, so that the merge order shows."""
    mask = np.zeros((size, size), dtype=np.uint8)
    q = size // 4
    centre = slice(2 * q - 2, 2 * q + 2)
    region = {'skin': (slice(q, 3 * q), slice(q, 3 * q)), 'nose': (centre, centre),
              'eye_g': (slice(q + 2, q + 6), slice(q, 3 * q)), 'hair': (slice(0, q + 4), slice(0, size)),
              'cloth': (slice(3 * q, size), slice(0, size))}[part]
    mask[region] = 255
    return mask


def build_celebahq_raw(root: str, ids: Sequence[int] = (0, 1, 2, 3, 4, 5), image_size: int = 64,
                       mask_size: int = 32, mapping: bool = True) -> dict:
    """The release: 1024->``image_size`` photos, 512->``mask_size`` part masks in folders of 2000,
    and (optionally) the mapping to CelebA files: ids 0-3 train, 4 val, 5 test."""
    base = os.path.join(root, 'CelebAMask-HQ')
    for face_id in ids:
        write_image(os.path.join(base, 'CelebA-HQ-img', f'{face_id}.jpg'), photo((image_size,) * 2, face_id),
                    quality=90)
        for part in RAW_PARTS:
            if part == 'eye_g' and face_id % 2:
                continue  # not everyone wears glasses
            path = os.path.join(base, 'CelebAMask-HQ-mask-anno', str(face_id // 2000), f'{face_id:05d}_{part}.png')
            write_image(path, _part_mask(part, mask_size))
    if mapping:
        celeba_file = {4: 170000, 5: 190000}
        lines = ['idx         orig_idx    orig_file   ']
        lines += [f'{i}  {celeba_file.get(i, 1000 + i) - 1}  {celeba_file.get(i, 1000 + i):06d}.jpg' for i in ids]
        with open(os.path.join(base, 'CelebA-HQ-to-CelebA-mapping.txt'), 'w') as handle:
            handle.write('\n'.join(lines) + '\n')
    return {'dataroot': base}


def build_celebahq_prepared(root: str, train_ids: Sequence[int] = (0, 1, 2), val_ids: Sequence[int] = (2001, 2002),
                            size: int = 32, glasses: Sequence[int] = (1, 2001)) -> dict:
    """CoCosNet/MoNCE preparation: train.txt/val.txt, merged maps without glasses (values 0..18,
    16 unused) and the raw _eye_g.png masks of the faces in ``glasses``."""
    base = os.path.join(root, 'CelebAMask-HQ')
    anno = os.path.join(base, 'CelebAMask-HQ-mask-anno')
    labels = {}
    for face_id in list(train_ids) + list(val_ids):
        values = [0, 1, 13, 18]
        write_image(os.path.join(base, 'CelebA-HQ-img', f'{face_id}.jpg'), photo((2 * size,) * 2, face_id), quality=90)
        write_image(os.path.join(anno, 'all_parts_except_glasses', f'{face_id:05d}.png'), stripes(values, (size, size)))
        if face_id in glasses:
            write_image(os.path.join(anno, str(face_id // 2000), f'{face_id:05d}_eye_g.png'), _part_mask('eye_g', size))
        labels[face_id] = values
    for name, ids in (('train.txt', train_ids), ('val.txt', val_ids)):
        with open(os.path.join(base, name), 'w') as handle:
            handle.write(''.join(f'{i}\n' for i in ids))
    return {'dataroot': base, 'labels': labels}


# ---------------------------------------------------------------------------- DeepFashion
POSE = np.array([[30, 8], [30, 16], [22, 16], [20, 26], [19, 34], [38, 16], [40, 26], [41, 34], [25, 36],
                 [25, 48], [25, 58], [35, 36], [35, 48], [35, 58], [28, 6], [32, 6], [26, 7], [34, 7]], dtype=float)


def write_openpose(base: str, keypoints: np.ndarray, missing: Sequence[int] = ()) -> None:
    """OpenPose's two files for one person, with the keypoints in ``missing`` not found."""
    os.makedirs(os.path.dirname(base), exist_ok=True)
    rows, subset = [], []
    for k, (x, y) in enumerate(keypoints):
        if k in missing:
            subset.append(-1)
            continue
        subset.append(len(rows))
        rows.append(f'{x:.3f} {y:.3f} 0.9 {len(rows)}')
    subset += [0.9 * len(rows), len(rows)]
    with open(base + '_candidate.txt', 'w') as handle:
        handle.write('\n'.join(rows) + '\n')
    with open(base + '_subset.txt', 'w') as handle:
        handle.write(' '.join(f'{v:.1f}' for v in subset) + '\n')


def build_deepfashion(root: str, n_train: int = 3, n_val: int = 1, size: tuple = (48, 64),
                      missing: Sequence[int] = (4,)) -> dict:
    """CoCosNet's layout: img/<gender>/<category>/<id>/<view>.jpg, pose/... OpenPose txt files,
    train.txt / val.txt with backslashes. Keypoints in ``missing`` are not found."""
    base = os.path.join(root, 'DeepFashion')
    scale = np.array([size[0] / 60, size[1] / 64])
    entries = {'train.txt': [], 'val.txt': []}
    for i in range(n_train + n_val):
        rel = ['img', 'WOMEN' if i % 2 else 'MEN', 'Denim', f'id_{i:08d}', f'0{i % 4 + 1}_1_front.jpg']
        write_image(os.path.join(base, *rel), photo(size, i), quality=90)
        write_openpose(os.path.join(base, 'pose', *rel[1:-1], rel[-1][:-4]), POSE * scale, missing)
        entries['train.txt' if i < n_train else 'val.txt'].append('\\'.join(rel))
    for name, lines in entries.items():
        with open(os.path.join(base, name), 'w') as handle:
            handle.write('\r\n'.join(lines) + '\r\n')
    return {'dataroot': base, 'entries': entries}


# ---------------------------------------------------------------------------- custom folders
def build_custom(root: str, names: Sequence[str] = ('a', 'b', 'c'), size: tuple = (48, 32),
                 label_nc: int = 13, instances: bool = False) -> dict:
    """label_dir/<name>.png and image_dir/<name>.png (lossless, so colours can be checked:
    each image pixel is ``colour_of(label)``)."""
    dirs = {kind: os.path.join(root, kind) for kind in ('labels', 'images', 'instances')}
    labels = {}
    for i, name in enumerate(names):
        values = [(i + k) % label_nc for k in range(4)]
        label = stripes(values, size)
        write_image(os.path.join(dirs['labels'], name + '.png'), label)
        write_image(os.path.join(dirs['images'], name + '.png'), colour_of(label))
        if instances:
            write_image(os.path.join(dirs['instances'], name + '.png'), stripes([1000, 2000, 3000, 4000], size,
                                                                              dtype=np.uint16))
        labels[name] = values
    return {'label_dir': dirs['labels'], 'image_dir': dirs['images'], 'instance_dir': dirs['instances'],
            'labels': labels}


def colour_of(labels: np.ndarray) -> np.ndarray:
    """A distinct colour for each class value, far apart so bicubic blur cannot confuse them."""
    palette = np.stack([(np.arange(256) * 37) % 256, (np.arange(256) * 91) % 256, (np.arange(256) * 53) % 256], 1)
    return palette[labels].astype(np.uint8)


# ---------------------------------------------------------------------------- odd files
def write_png16(path: str, array: np.ndarray) -> str:
    """A 16-bit PNG of ``array`` (uint16; (h,w) grey, (h,w,2) grey+alpha, (h,w,3) RGB or (h,w,4)
    RGBA), encoded here because Pillow writes 16 bits only for grayscale."""
    import struct
    import zlib
    h, w = array.shape[:2]
    channels = 1 if array.ndim == 2 else array.shape[2]
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    rows = b''.join(b'\x00' + array[y].astype('>u2').tobytes() for y in range(h))  # filter 0 per row

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack('>I', len(payload)) + kind + payload + struct.pack('>I', zlib.crc32(kind + payload))

    header = struct.pack('>IIBBBBB', w, h, 16, colour_type, 0, 0, 0)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as handle:
        handle.write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', header) + chunk(b'IDAT', zlib.compress(rows))
                     + chunk(b'IEND', b''))
    return path
