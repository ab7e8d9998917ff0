"""CelebAMask-HQ face parsing (19 classes), from either of its two common layouts.

``raw`` - the release as downloaded (``--dataroot CelebAMask-HQ``):
    ``CelebA-HQ-img/<id>.jpg`` (1024x1024) and ``CelebAMask-HQ-mask-anno/<id // 2000>/
    <id:05d>_<part>.png`` (512x512 binary masks). The parts are merged into one map in the
    release's own order (its ``g_mask.py``): 0 background, 1 skin, 2 nose, 3 eye_g (glasses),
    4 l_eye, ... 18 cloth, a later part overwriting an earlier one. The split is the official
    one from ``CelebA-HQ-to-CelebA-mapping.txt`` (see :mod:`data.celebahq_split`); without
    that file ``id % 10 == 8`` is val, ``id % 10 == 9`` test, the rest train. ``--phase``
    train, val or test picks the split.

``prepared`` - CoCosNet's/MoNCE's preparation (same root): ``train.txt`` / ``val.txt`` (one id
    per line), ``CelebAMask-HQ-mask-anno/all_parts_except_glasses/<id:05d>.png`` (a merged map
    in CoCosNet's class numbering, where value 16 is left free for glasses) and the raw
    ``_eye_g.png`` masks. Glasses become class 16 of the single-channel map, which is where
    CoCosNet puts them; MoNCE's released code instead scatters a two-channel map and so paints
    glasses as another class. ``--phase train`` reads train.txt, ``val``/``test`` val.txt.

The two layouts number classes differently (glasses are 3 in one, 16 in the other): train
and test on the same layout. ``--celebahq_layout auto`` picks ``prepared`` when train.txt
and ``all_parts_except_glasses/`` exist.
"""
import argparse
import os
import re
from typing import Optional

import numpy as np

from data.conventions import DatasetLabels
from data.image_folder import list_folder, natural_key
from data.image_io import load_index_map, load_mask
from data.celebahq_split import MAPPING_FILE, face_split, is_id, official_split
from data.pix2pix_dataset import Pix2pixDataset, Sample
from data.validation import (pair_by_key, read_text_lines, require_dir, require_file, require_found,
                             to_class_indices)
from util.errors import DatasetError

PARTS = ('skin', 'nose', 'eye_g', 'l_eye', 'r_eye', 'l_brow', 'r_brow', 'l_ear', 'r_ear', 'mouth', 'u_lip',
         'l_lip', 'hair', 'hat', 'ear_r', 'neck_l', 'neck', 'cloth')
CLASS_NAMES = ('background',) + PARTS          # the raw layout's classes, by index
PREPARED_GLASSES = 16                          # CoCosNet's glasses channel (label_nc - 3)
RAW_LABELS = DatasetLabels(names=CLASS_NAMES)
PREPARED_LABELS = DatasetLabels(
    names=('',) * PREPARED_GLASSES + ('eye_g (glasses)',),
    note="CelebAMask-HQ's prepared layout numbers the parts CoCosNet's way; only glasses (16) is known, "
         "the others are numbered")
IMAGE_DIR, ANNO_DIR, MERGED_DIR = 'CelebA-HQ-img', 'CelebAMask-HQ-mask-anno', 'all_parts_except_glasses'
_PART_FILE = re.compile(r'^(\d+)_([a-z_]+)\.png$')


class CelebAHQDataset(Pix2pixDataset):
    labels = RAW_LABELS

    @classmethod
    def labels_for(cls, opt: argparse.Namespace) -> DatasetLabels:
        return PREPARED_LABELS if resolve_layout(opt) == 'prepared' else RAW_LABELS

    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
        parser = Pix2pixDataset.modify_commandline_options(parser, is_train)
        parser.add_argument('--celebahq_layout', type=str, default='auto', choices=('auto', 'raw', 'prepared'),
                            help='raw: the CelebAMask-HQ release; prepared: CoCosNet/MoNCE train.txt + '
                                 'all_parts_except_glasses; auto: prepared when its files exist')
        parser.set_defaults(preprocess_mode='resize_and_crop', load_size=286 if is_train else 256, crop_size=256,
                            display_winsize=256, label_nc=19, contain_dontcare_label=False,
                            cache_filelist_read=False, cache_filelist_write=False, no_instance=True)
        return parser

    def make_samples(self, opt: argparse.Namespace) -> list:
        require_dir(opt.dataroot)
        self.layout = resolve_layout(opt)
        require_dir(os.path.join(opt.dataroot, IMAGE_DIR))
        require_dir(os.path.join(opt.dataroot, ANNO_DIR))
        if self.layout == 'prepared':
            return self._prepared_samples(opt)
        return self._raw_samples(opt)

    # ------------------------------------------------------------------ raw release
    def _raw_samples(self, opt: argparse.Namespace) -> list:
        images = _images_by_id(opt.dataroot)
        parts = _parts_by_id(os.path.join(opt.dataroot, ANNO_DIR))
        pattern = os.path.join(opt.dataroot, ANNO_DIR, '<id // 2000>', '<id:05d>_<part>.png')
        require_found(parts, pattern)
        split = {'train': 'train', 'val': 'val'}.get(opt.phase, 'test')
        splits = official_split(opt.dataroot)
        wanted = sorted((i for i in set(images) | set(parts) if face_split(splits, i) == split))
        if not wanted:
            how = MAPPING_FILE if splits else 'id % 10 (no ' + MAPPING_FILE + ')'
            raise DatasetError(f"{os.path.join(opt.dataroot, IMAGE_DIR)}: no faces of the '{split}' split "
                               f"(split by {how}); check --phase")
        image_where = os.path.join(opt.dataroot, IMAGE_DIR, '<id>.jpg')
        labelled = [i for i in wanted if i in parts]
        label_names = [self._raw_label_name(opt.dataroot, i) for i in labelled]
        paired = pair_by_key(label_names, [images[i] for i in wanted if i in images], _id_key,
                             pattern, image_where)
        return [Sample(name, image, parts=tuple(parts[i])) for i, name, image in zip(labelled, label_names, paired)]

    @staticmethod
    def _raw_label_name(root: str, face_id: int) -> str:
        return os.path.join(root, ANNO_DIR, str(face_id // 2000), f'{face_id:05d}_*.png')

    # ------------------------------------------------------------------ prepared layout
    def _prepared_samples(self, opt: argparse.Namespace) -> list:
        list_file = os.path.join(opt.dataroot, 'train.txt' if opt.phase == 'train' else 'val.txt')
        require_file(list_file, 'CoCosNet/MoNCE split list', option='--dataroot (or --celebahq_layout raw)')
        ids = _read_ids(list_file)
        merged_dir = os.path.join(opt.dataroot, ANNO_DIR, MERGED_DIR)
        require_dir(merged_dir, option='--dataroot (or --celebahq_layout raw)')
        merged = {int(os.path.splitext(n)[0]): os.path.join(merged_dir, n)
                  for n in list_folder(merged_dir) if n.endswith('.png') and is_id(n[:-4])}
        images = _images_by_id(opt.dataroot)
        glasses = {i: files[0] for i, files in _parts_by_id(os.path.join(opt.dataroot, ANNO_DIR), {'eye_g'}).items()}
        self._check_listed(list_file, ids, merged, os.path.join(merged_dir, '<id:05d>.png'))
        self._check_listed(list_file, ids, images, os.path.join(opt.dataroot, IMAGE_DIR, '<id>.jpg'))
        return [Sample(merged[i], images[i], parts=(glasses[i][1],) if i in glasses else ()) for i in ids]

    @staticmethod
    def _check_listed(list_file: str, ids: list, found: dict, pattern: str) -> None:
        missing = [i for i in ids if i not in found]
        if missing:
            shown = ', '.join(str(i) for i in missing[:3]) + (', ...' if len(missing) > 3 else '')
            raise DatasetError(f"{list_file}: {len(missing)} listed id(s) have no file {pattern} (first: {shown})")

    # ------------------------------------------------------------------ per sample
    def read_label(self, sample: Sample) -> np.ndarray:
        if self.layout == 'prepared':
            labels = load_index_map(sample.label)
            if sample.parts:
                glasses = _same_shape(load_mask(sample.parts[0]), labels.shape, sample.parts[0])
                labels = labels.astype(np.int32)
                labels[glasses] = PREPARED_GLASSES
            return to_class_indices(labels, sample.label, self.opt, self.labels.dontcare)
        return to_class_indices(self._merge_parts(sample), sample.label, self.opt, self.labels.dontcare)

    @staticmethod
    def _merge_parts(sample: Sample) -> np.ndarray:
        labels = None
        for cls, path in sample.parts:
            mask = load_mask(path)
            if labels is None:
                labels = np.zeros(mask.shape, dtype=np.uint8)
            labels[_same_shape(mask, labels.shape, path)] = cls
        return labels


def resolve_layout(opt: argparse.Namespace) -> str:
    """``--celebahq_layout``, with ``auto`` decided by the files under ``--dataroot`` (raw without one)."""
    if opt.celebahq_layout != 'auto':
        return opt.celebahq_layout
    return detect_layout(opt.dataroot) if opt.dataroot else 'raw'


def detect_layout(root: str) -> str:
    prepared = os.path.isfile(os.path.join(root, 'train.txt')) and \
        os.path.isdir(os.path.join(root, ANNO_DIR, MERGED_DIR))
    return 'prepared' if prepared else 'raw'


def _images_by_id(root: str) -> dict:
    folder = os.path.join(root, IMAGE_DIR)
    return {int(os.path.splitext(n)[0]): os.path.join(folder, n) for n in sorted(list_folder(folder), key=natural_key)
            if n.lower().endswith('.jpg') and is_id(os.path.splitext(n)[0])}


def _parts_by_id(anno_dir: str, only: Optional[set] = None) -> dict:
    """id -> [(class, path), ...] in merge order, from the numbered folders of part masks."""
    order = {part: index + 1 for index, part in enumerate(PARTS)}
    found = {}
    for sub in sorted(list_folder(anno_dir)):
        folder = os.path.join(anno_dir, sub)
        if not sub.isdigit() or not os.path.isdir(folder):
            continue
        for name in list_folder(folder):
            match = _PART_FILE.match(name)
            if match and match.group(2) in order and (only is None or match.group(2) in only):
                found.setdefault(int(match.group(1)), []).append((order[match.group(2)], os.path.join(folder, name)))
    return {i: sorted(parts) for i, parts in found.items()}


def _read_ids(list_file: str) -> list:
    ids = []
    for number, line in read_text_lines(list_file):
        text = os.path.splitext(line.strip())[0]
        if not text:
            continue
        if not is_id(text):
            raise DatasetError(f"{list_file}: line {number} is '{line.strip()}', expected an image id such as 123")
        ids.append(int(text))
    return ids


def _id_key(path: str) -> str:
    return str(int(os.path.basename(path).split('_')[0].split('.')[0]))


def _same_shape(mask: np.ndarray, shape: tuple, path: str) -> np.ndarray:
    if mask.shape != tuple(shape):
        raise DatasetError(f"{path}: mask is {mask.shape[1]}x{mask.shape[0]} but the face's label map is "
                           f"{shape[1]}x{shape[0]}")
    return mask
