"""Datasets of label maps, photos and (optionally) instance maps stored as files.

Start-up lists the files, pairs them by name and fails on anything unpaired; each sample then
loads its files, checks its label values and applies one random geometry to all of them.
Subclasses say where the files are (``get_paths``) and, if needed, how names pair
(``pair_key``) and how a label map is read (``read_label``).
"""
import argparse
import os
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import torch
from PIL import Image

from data.base_dataset import BaseDataset
from data.geometry import (Geometry, apply_geometry, apply_to_array, check_aligned, image_tensor, index_tensor,
                           plan_geometry)
from data.image_folder import natural_key
from data.image_io import load_index_map, load_rgb
from data.validation import (pair_by_key, pair_in_order, refuse_lossy_names, reject_duplicate_keys, require_found,
                             to_class_indices)
from util.errors import OptionError


@dataclass(frozen=True)
class Sample:
    label: str                      # label file; for maps assembled from parts, a name for messages
    image: Optional[str]            # None when the dataset has no photos
    instance: Optional[str] = None  # None with --no_instance
    parts: tuple = ()               # files a mode needs besides these (e.g. CelebAMask-HQ part masks)


@dataclass
class Sources:
    """Files found for one phase, and where they were searched (for error messages)."""
    labels: list
    label_where: str
    images: list = field(default_factory=list)
    image_where: str = ''
    instances: list = field(default_factory=list)
    instance_where: str = ''


class Pix2pixDataset(BaseDataset):
    needs_dataroot = True  # False for modes whose folders come from their own options

    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
        parser.add_argument('--no_pairing_check', action='store_true',
                            help='pair labels and images in sorted order instead of by file name')
        return parser

    def __init__(self, opt: argparse.Namespace) -> None:
        super().__init__(opt)
        if self.needs_dataroot and not opt.dataroot:
            raise OptionError(f'--dataset_mode {opt.dataset_mode} needs --dataroot, the folder of the dataset')
        self.samples = self.make_samples(opt)[:opt.max_dataset_size]

    # ------------------------------------------------------------------ start-up
    def get_paths(self, opt: argparse.Namespace) -> Sources:
        raise NotImplementedError(f"{type(self).__name__} must say where its files are")

    def pair_key(self, path: str) -> str:
        """Files with equal keys belong together: by default the name without extension."""
        return os.path.splitext(os.path.basename(path))[0]

    def make_samples(self, opt: argparse.Namespace) -> list:
        src = self.get_paths(opt)
        require_found(src.labels, src.label_where)
        refuse_lossy_names(src.labels, 'label', src.label_where)
        labels = sorted(src.labels, key=natural_key)
        # checked here too because without name pairing (labels only, --no_pairing_check) two
        # labels of one name would write one result file, the second over the first
        reject_duplicate_keys(labels, self.pair_key, src.label_where)
        images = [None] * len(labels)
        if self.has_images:
            require_found(src.images, src.image_where)
            images = self._pair(labels, src.images, src.label_where, src.image_where, 'image')
        instances = [None] * len(labels)
        if not opt.no_instance:
            require_found(src.instances, src.instance_where, hint='or pass --no_instance')
            refuse_lossy_names(src.instances, 'instance', src.instance_where)
            instances = self._pair(labels, src.instances, src.label_where, src.instance_where, 'instance map')
        return [Sample(label, image, instance) for label, image, instance in zip(labels, images, instances)]

    def _pair(self, labels: list, others: list, label_where: str, other_where: str, name: str) -> list:
        if self.opt.no_pairing_check:
            return pair_in_order(labels, sorted(others, key=natural_key), label_where, other_where)
        return pair_by_key(labels, others, self.pair_key, label_where, other_where, name)

    # ------------------------------------------------------------------ per sample
    def __len__(self) -> int:
        return len(self.samples)

    def read_label(self, sample: Sample) -> np.ndarray:
        """(H,W) class indices of ``sample``, validated against --label_nc."""
        return to_class_indices(load_index_map(sample.label), sample.label, self.opt, self.labels.dontcare)

    def __getitem__(self, index: int) -> dict:
        sample = self.samples[index]
        image = load_rgb(sample.image) if sample.image else None
        labels = self.read_label(sample)
        label_size = (labels.shape[1], labels.shape[0])
        if image is not None:
            check_aligned(label_size, image.size, sample.label, sample.image)
        size = image.size if image is not None else label_size
        geometry = plan_geometry(self.opt, size, sample.image or sample.label)
        return {
            'label': index_tensor(apply_to_array(labels, geometry), np.int64),
            'instance': self._instance(sample, label_size, geometry),
            'image': self._image(image, geometry),
            'path': sample.image or sample.label,
        }

    def _instance(self, sample: Sample, label_size: tuple, geometry: Geometry):
        if self.opt.no_instance:
            return 0
        instance = load_index_map(sample.instance, 'instance')
        check_aligned((instance.shape[1], instance.shape[0]), label_size, sample.instance, sample.label)
        return index_tensor(apply_to_array(instance.astype(np.int32), geometry), np.int32)

    @staticmethod
    def _image(image: Optional[Image.Image], geometry: Geometry) -> torch.Tensor:
        if image is None:
            w, h = geometry.output_size
            return torch.zeros(3, h, w)
        return image_tensor(apply_geometry(image, geometry, Image.Resampling.BICUBIC))
