"""The built-in dataset (``--dataset_mode synthetic``, the default without ``--dataroot``).

Procedural scenes from :mod:`data.synthetic`, rendered on the fly at ``--crop_size`` (128 by
default): nothing to download, deterministic, and quick enough for a CPU demo. ``--phase
train`` gives the train split, any other phase the test split; the splits are disjoint.
``--synthetic_seed`` picks the scenes, independently of the training ``--seed``.
"""
import argparse

import numpy as np
from PIL import Image

from data.base_dataset import BaseDataset
from data.conventions import DatasetLabels
from data.geometry import apply_geometry, apply_to_array, image_tensor, index_tensor, plan_geometry
from data.synthetic import CLASS_NAMES, CLASS_RGB, NUM_CLASSES, render
from util.errors import OptionError

# the classes' own hues are the swatches; test.py's input_label images keep SPADE's palette
LABELS = DatasetLabels(names=tuple(CLASS_NAMES),
                       colors=tuple(map(tuple, np.round(CLASS_RGB * 255).astype(int).tolist())))


class SyntheticDataset(BaseDataset):
    labels = LABELS

    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
        parser.add_argument('--synthetic_seed', type=int, default=0,
                            help='which scenes the built-in dataset holds (independent of --seed)')
        parser.add_argument('--synthetic_train_size', type=int, default=2000,
                            help='number of scenes in the built-in training split')
        parser.add_argument('--synthetic_test_size', type=int, default=200,
                            help='number of scenes in the built-in test split')
        # scenes are drawn at the output size, so no resampling; endless data needs no flips
        parser.set_defaults(preprocess_mode='fixed', load_size=128, crop_size=128, display_winsize=128,
                            aspect_ratio=1.0, label_nc=NUM_CLASSES, contain_dontcare_label=False,
                            no_instance=True, no_flip=True)
        return parser

    def __init__(self, opt: argparse.Namespace) -> None:
        super().__init__(opt)
        if opt.label_nc < NUM_CLASSES:
            raise OptionError(f'--dataset_mode synthetic has {NUM_CLASSES} classes; --label_nc {opt.label_nc} '
                              f'is too small (use {NUM_CLASSES})')
        if not opt.no_instance:
            raise OptionError('--dataset_mode synthetic has no instance maps; pass --no_instance')
        self.split = 'train' if opt.phase == 'train' else 'test'
        size = opt.synthetic_train_size if self.split == 'train' else opt.synthetic_test_size
        if size < 1:
            raise OptionError(f'--synthetic_{self.split}_size must be >= 1, got {size}')
        self.length = min(size, opt.max_dataset_size)
        self.render_size = opt.crop_size

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < self.length:
            raise IndexError(f'sample {index} of a synthetic dataset of {self.length}')
        labels, picture = render(index, self.render_size, self.opt.synthetic_seed, self.split)
        path = f'synthetic/{self.split}/{index:06d}.png'
        geometry = plan_geometry(self.opt, (self.render_size, self.render_size), path)
        image = apply_geometry(Image.fromarray(picture), geometry, Image.Resampling.BICUBIC)
        return {
            'label': index_tensor(apply_to_array(labels, geometry), np.int64),
            'instance': 0,
            'image': image_tensor(image),
            'path': path,
        }
