"""Cityscapes as downloaded: ``leftImg8bit/<split>/<city>/*_leftImg8bit.png`` and
``gtFine/<split>/<city>/*_gtFine_{labelIds,instanceIds}.png``.

``--phase train`` reads ``train``; ``val`` and ``test`` read ``val`` (Cityscapes' test labels
are withheld). Files pair by their first three name parts ``<city>_<seq>_<frame>``. Labels are
the 35 label ids (0..33 used); instance ids are 16-bit (``26001`` = car #1) and are read as
int32.
"""
import argparse
import os

from data.conventions import DatasetLabels, SegmenterLabels
from data.image_folder import make_dataset
from data.pix2pix_dataset import Pix2pixDataset, Sources

# label id -> name (cityscapesScripts' labels.py), as in *_gtFine_labelIds.png
NAMES = (
    'unlabeled', 'ego vehicle', 'rectification border', 'out of roi', 'static', 'dynamic', 'ground', 'road',
    'sidewalk', 'parking', 'rail track', 'building', 'wall', 'fence', 'guard rail', 'bridge', 'tunnel', 'pole',
    'polegroup', 'traffic light', 'traffic sign', 'vegetation', 'terrain', 'sky', 'person', 'rider', 'car',
    'truck', 'bus', 'caravan', 'trailer', 'train', 'motorcycle', 'bicycle',
)
LABEL_IDS = 35  # SPADE's --label_nc: ids 0..33 occur, 34 is accepted
# label id -> the train id (0..18) that Cityscapes segmenters (DRN-D-105) predict; other ids are not scored
TRAIN_IDS = {NAMES.index(name): train_id for train_id, name in enumerate((
    'road', 'sidewalk', 'building', 'wall', 'fence', 'pole', 'traffic light', 'traffic sign', 'vegetation',
    'terrain', 'sky', 'person', 'rider', 'car', 'truck', 'bus', 'train', 'motorcycle', 'bicycle'))}
LABELS = DatasetLabels(names=NAMES, segmenter=SegmenterLabels(
    'Cityscapes label ids (0..33; those without a train id are not scored)', LABEL_IDS, TRAIN_IDS))


class CityscapesDataset(Pix2pixDataset):
    labels = LABELS

    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
        parser = Pix2pixDataset.modify_commandline_options(parser, is_train)
        parser.set_defaults(preprocess_mode='fixed', load_size=512, crop_size=512, display_winsize=512,
                            label_nc=LABEL_IDS, aspect_ratio=2.0, batchSize=16)
        if hasattr(parser.peek(), 'num_upsampling_layers'):
            parser.set_defaults(num_upsampling_layers='more')
        return parser

    def get_paths(self, opt: argparse.Namespace) -> Sources:
        split = 'train' if opt.phase == 'train' else 'val'
        label_dir = os.path.join(opt.dataroot, 'gtFine', split)
        image_dir = os.path.join(opt.dataroot, 'leftImg8bit', split)
        read, write = opt.cache_filelist_read, opt.cache_filelist_write
        annotations = make_dataset(label_dir, recursive=True, read_cache=read, write_cache=write)
        images = make_dataset(image_dir, recursive=True, read_cache=read, write_cache=write)
        return Sources(
            labels=[p for p in annotations if p.endswith('_labelIds.png')],
            label_where=os.path.join(label_dir, '*', '*_labelIds.png'),
            images=[p for p in images if p.endswith('_leftImg8bit.png')],
            image_where=os.path.join(image_dir, '*', '*_leftImg8bit.png'),
            instances=[p for p in annotations if p.endswith('_instanceIds.png')],
            instance_where=os.path.join(label_dir, '*', '*_instanceIds.png'))

    def pair_key(self, path: str) -> str:
        return '_'.join(os.path.basename(path).split('_')[:3])
