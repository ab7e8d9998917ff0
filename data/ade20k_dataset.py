"""ADE20K (SceneParsing, ``ADEChallengeData2016``) as downloaded.

``--dataroot`` is the ``ADEChallengeData2016`` folder: ``images/{training,validation}/
ADE_{train,val}_*.jpg`` and ``annotations/{training,validation}/ADE_{train,val}_*.png``.
Like SPADE, files are found anywhere under the root by name, so CoCosNet's layout (the
annotations moved beside the images) works too. ``--phase train`` reads the training split,
``val`` and ``test`` the validation split.

Annotations hold 0 = unlabeled and 1..150 = classes. SPADE declares ``--label_nc 150`` with
``--contain_dontcare_label`` and (its post-processing being a no-op) feeds the values as they
are, so the 151 input channels are: channel 0 'unlabeled', channels 1..150 the classes. We
keep that, so SPADE's ADE20K checkpoints see the input they were trained on.
"""
import argparse
import os
import re

from data.image_folder import make_dataset
from data.pix2pix_dataset import Pix2pixDataset, Sources

_NAME = re.compile(r'^ADE_(train|val)_\d+\.(jpg|png)$')


class ADE20KDataset(Pix2pixDataset):

    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
        parser = Pix2pixDataset.modify_commandline_options(parser, is_train)
        parser.set_defaults(preprocess_mode='resize_and_crop', load_size=286 if is_train else 256, crop_size=256,
                            display_winsize=256, label_nc=150, contain_dontcare_label=True,
                            cache_filelist_read=False, cache_filelist_write=False, no_instance=True)
        return parser

    def get_paths(self, opt: argparse.Namespace) -> Sources:
        split = 'train' if opt.phase == 'train' else 'val'
        files = make_dataset(opt.dataroot, recursive=True)
        labels, images = [], []
        for path in files:
            match = _NAME.match(os.path.basename(path))
            if match and match.group(1) == split:
                (images if match.group(2) == 'jpg' else labels).append(path)
        where = os.path.join(opt.dataroot, '**', f'ADE_{split}_*')
        return Sources(labels=labels, label_where=where + '.png', images=images, image_where=where + '.jpg')
