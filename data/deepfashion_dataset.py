"""DeepFashion (In-shop) pose-to-image in CoCosNet's layout.

``--dataroot DeepFashion`` holds ``img/<...>.jpg``, OpenPose results ``pose/<...>_candidate.txt``
and ``pose/<...>_subset.txt`` (the image's path with ``img`` -> ``pose``), and ``train.txt`` /
``val.txt`` listing image paths relative to the root (Windows backslashes allowed). ``--phase
train`` reads train.txt, ``val``/``test`` val.txt.

The label is dense, not class indices: a float (20,H,W) map in [0,1] drawn at the photo's size
exactly as CoCosNet draws it (see :mod:`data.pose_render`) and then given the photo's geometry
as 8-bit images - the picture channels with nearest, the distance channels with bilinear
resampling - and divided by 255, as CoCosNet does. With the default ``resize_and_crop`` (the
only mode CoCosNet uses) the label equals CoCosNet's.

Where we deliberately differ from CoCosNet:
- a random flip mirrors the keypoints and swaps left and right before drawing, so a flipped
  sample is the correct pose of the flipped photo (CoCosNet mirrors the drawn picture, which
  puts left-limb colours on right limbs; it trains with --no_flip);
- every channel follows the photo's geometry in every ``--preprocess_mode`` (CoCosNet first
  squashes the picture, but not the distances, to ``load_size`` x ``load_size``, so in other
  modes its channels and photo do not line up);
- a subset file with several people keeps the best-scoring one, and an empty one means no
  keypoints (CoCosNet reads a single person and fails otherwise).
"""
import argparse
import os

import numpy as np
import torch
from PIL import Image

from data.conventions import DatasetLabels
from data.geometry import Geometry, apply_geometry, image_tensor, plan_geometry
from data.image_folder import walk_files
from data.image_io import load_rgb
from data.openpose import mirror_keypoints, read_keypoints
from data.pix2pix_dataset import Pix2pixDataset, Sample
from data.pose_render import NUM_CHANNELS, render_pose
from data.validation import SHOW, read_text_lines, require_dir, require_file
from util.errors import DatasetError, OptionError


class DeepFashionDataset(Pix2pixDataset):
    labels = DatasetLabels(dense=True)

    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
        parser = Pix2pixDataset.modify_commandline_options(parser, is_train)
        parser.set_defaults(preprocess_mode='resize_and_crop', load_size=286 if is_train else 256, crop_size=256,
                            display_winsize=256, label_nc=NUM_CHANNELS, contain_dontcare_label=False,
                            cache_filelist_read=False, cache_filelist_write=False, no_instance=True)
        return parser

    def make_samples(self, opt: argparse.Namespace) -> list:
        if not opt.no_instance:
            raise OptionError('--dataset_mode deepfashion has no instance maps; pass --no_instance')
        if opt.label_nc != NUM_CHANNELS or opt.contain_dontcare_label:
            raise OptionError(f'--dataset_mode deepfashion gives a dense {NUM_CHANNELS}-channel pose map: use '
                              f'--label_nc {NUM_CHANNELS} without --contain_dontcare_label')
        list_file = os.path.join(opt.dataroot, 'train.txt' if opt.phase == 'train' else 'val.txt')
        require_file(list_file, 'DeepFashion split list (CoCosNet train.txt / val.txt)')
        entries = _read_list(list_file)
        images = _files_under(opt.dataroot, 'img')
        poses = _files_under(opt.dataroot, 'pose')
        samples = [self._sample(opt.dataroot, rel) for rel in entries]
        _check_present(list_file, [rel for rel in entries if rel not in images], 'images under img/')
        pose_files = [_rel(opt.dataroot, p) for s in samples for p in s.parts]
        _check_present(list_file, [p for p in pose_files if p not in poses], 'OpenPose files under pose/')
        return samples

    @staticmethod
    def _sample(root: str, rel: str) -> Sample:
        base = os.path.join(root, 'pose', os.path.splitext(rel)[0][len('img/'):])
        parts = (base + '_candidate.txt', base + '_subset.txt')
        return Sample(label=base + '_{candidate,subset}.txt', image=os.path.join(root, rel), parts=parts)

    def __getitem__(self, index: int) -> dict:
        sample = self.samples[index]
        image = load_rgb(sample.image)
        keypoints = read_keypoints(*sample.parts)
        geometry = plan_geometry(self.opt, image.size, sample.image)
        label_geometry = geometry
        if geometry.flip:
            keypoints = mirror_keypoints(keypoints, image.size[0])
            label_geometry = geometry.unflipped()
        picture, distances = render_pose(keypoints, image.size)
        return {
            'label': _dense_label(picture, distances, label_geometry),
            'instance': 0,
            'image': image_tensor(apply_geometry(image, geometry, Image.Resampling.BICUBIC)),
            'path': sample.image,
        }


def _dense_label(picture: np.ndarray, distances: np.ndarray, geometry: Geometry) -> torch.Tensor:
    """(20,H,W) float in [0,1]: the uint8 picture resampled nearest, the uint8 distances bilinear."""
    channels = [np.asarray(apply_geometry(Image.fromarray(picture), geometry, Image.Resampling.NEAREST))
                .transpose(2, 0, 1)]
    # as 8-bit ('L') images, as CoCosNet resizes them: PIL rounds each bilinear value to a grey level
    channels += [np.asarray(apply_geometry(Image.fromarray(plane), geometry, Image.Resampling.BILINEAR))[None]
                 for plane in distances]
    # a division, not a multiplication by 1/255: bit for bit what torchvision's ToTensor gives
    return torch.from_numpy(np.concatenate(channels).astype(np.float32) / np.float32(255))


def _read_list(list_file: str) -> list:
    entries = []
    for number, line in read_text_lines(list_file):
        rel = line.strip().replace('\\', '/')
        if not rel:
            continue
        if not rel.startswith('img/'):
            raise DatasetError(f"{list_file}: line {number} is '{line.strip()}', expected an image path "
                               f"such as img\\MEN\\Denim\\id_00000080\\01_1_front.jpg")
        entries.append(rel)
    return entries


def _files_under(root: str, name: str) -> set:
    """Paths (relative to ``root``, with '/') of all files under ``root/name``."""
    folder = os.path.join(root, name)
    require_dir(folder)
    return {_rel(root, path) for path in walk_files(folder)}


def _rel(root: str, path: str) -> str:
    return os.path.relpath(path, root).replace(os.sep, '/')


def _check_present(list_file: str, missing: list, what: str) -> None:
    if missing:
        shown = ', '.join(missing[:SHOW]) + (', ...' if len(missing) > SHOW else '')
        raise DatasetError(f"{list_file}: {len(missing)} listed files are missing from the {what} "
                           f"(first: {shown})")
