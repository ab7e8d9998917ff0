"""COCO-Stuff in SPADE's layout: ``{train,val}_img/``, ``{train,val}_label/`` and
``{train,val}_inst/`` (plus the optional ``*_portrait`` folders SPADE adds when training).

``--phase test`` reads ``val_*``. Labels are 0..181 with 255 = unlabeled, which becomes index
182 (``--label_nc 182 --contain_dontcare_label``). A ``files.list`` in a folder (SPADE's file
list cache) is read when present; ``--cache_filelist_write`` writes one.
"""
import argparse
import os

from data.image_folder import make_dataset
from data.pix2pix_dataset import Pix2pixDataset, Sources


class CocoDataset(Pix2pixDataset):

    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
        parser = Pix2pixDataset.modify_commandline_options(parser, is_train)
        parser.add_argument('--coco_no_portraits', action='store_true',
                            help='do not add the *_portrait folders to the training set')
        # SPADE reads files.list when present but never writes it by default
        parser.set_defaults(preprocess_mode='resize_and_crop', load_size=286 if is_train else 256, crop_size=256,
                            display_winsize=256, label_nc=182, contain_dontcare_label=True,
                            cache_filelist_read=True, cache_filelist_write=False)
        return parser

    def get_paths(self, opt: argparse.Namespace) -> Sources:
        phase = 'val' if opt.phase == 'test' else opt.phase
        labels, label_where = self._files(opt, f'{phase}_label')
        images, image_where = self._files(opt, f'{phase}_img')
        instances, instance_where = ([], '') if opt.no_instance else self._files(opt, f'{phase}_inst')
        return Sources(labels, label_where, images, image_where, instances, instance_where)

    def _files(self, opt: argparse.Namespace, name: str) -> tuple:
        folders = [os.path.join(opt.dataroot, name)]
        portrait = os.path.join(opt.dataroot, name + '_portrait')
        if opt.isTrain and not opt.coco_no_portraits and os.path.isdir(portrait):
            folders.append(portrait)
        paths = []
        for folder in folders:
            paths += make_dataset(folder, read_cache=opt.cache_filelist_read, write_cache=opt.cache_filelist_write)
        return paths, os.path.join(folders[0], '*')
