"""Any folders of label maps and photos (``--label_dir``, ``--image_dir``, ``--instance_dir``).

Files pair by their path inside the folder without extension (``a/x.png`` with ``a/x.jpg``).
``--image_dir`` may be left out at test time: the dataset then has only labels
(``has_images`` is False, ``image`` is zeros and ``path`` the label's). Instance maps are
used when ``--instance_dir`` is given.
"""
import argparse
import os

from data.image_folder import make_dataset
from data.pix2pix_dataset import Pix2pixDataset, Sources
from util.errors import OptionError


class CustomDataset(Pix2pixDataset):
    needs_dataroot = False

    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
        parser = Pix2pixDataset.modify_commandline_options(parser, is_train)
        parser.add_argument('--label_dir', type=str, required=True,
                            help='folder of label maps (one class index per pixel)')
        parser.add_argument('--image_dir', type=str, default=None,
                            help='folder of photos; required for training, optional at test time')
        parser.add_argument('--instance_dir', type=str, default='',
                            help='folder of instance maps; leave empty when there are none')
        parser.set_defaults(preprocess_mode='resize_and_crop', load_size=286 if is_train else 256, crop_size=256,
                            display_winsize=256, label_nc=13, contain_dontcare_label=False,
                            no_instance=not parser.peek().instance_dir)
        return parser

    def __init__(self, opt: argparse.Namespace) -> None:
        if not opt.image_dir and opt.isTrain:
            raise OptionError('--image_dir is required for training with --dataset_mode custom')
        if not opt.no_instance and not opt.instance_dir:
            raise OptionError('--dataset_mode custom needs --instance_dir for instance maps, or --no_instance')
        self.has_images = bool(opt.image_dir)
        super().__init__(opt)

    def get_paths(self, opt: argparse.Namespace) -> Sources:
        read, write = opt.cache_filelist_read, opt.cache_filelist_write
        sources = Sources(labels=self._files(opt.label_dir, '--label_dir', read, write),
                          label_where=os.path.join(opt.label_dir, '*'))
        if self.has_images:
            sources.images = self._files(opt.image_dir, '--image_dir', read, write)
            sources.image_where = os.path.join(opt.image_dir, '*')
        if not opt.no_instance:
            sources.instances = self._files(opt.instance_dir, '--instance_dir', read, write)
            sources.instance_where = os.path.join(opt.instance_dir, '*')
        return sources

    @staticmethod
    def _files(folder: str, option: str, read: bool, write: bool) -> list:
        return make_dataset(folder, recursive=True, read_cache=read, write_cache=write, option=option)

    def pair_key(self, path: str) -> str:
        for root in (self.opt.label_dir, self.opt.image_dir, self.opt.instance_dir):
            if root and os.path.abspath(path).startswith(os.path.abspath(root) + os.sep):
                return os.path.splitext(os.path.relpath(path, root))[0]
        return os.path.splitext(os.path.basename(path))[0]
