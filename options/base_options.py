"""Options shared by training and inference, with SPADE's names, meanings and defaults.

A SPADE command line works unchanged. Differences from SPADE, each for a stated reason:
- ``--gpu_ids`` defaults to ``0`` only when CUDA is present, ``-1`` (CPU) otherwise, so the
  built-in demo runs on a laptop.
- ``--dataset_mode`` defaults to ``synthetic`` (the built-in dataset) when no ``--dataroot``
  is given, and to SPADE's ``coco`` otherwise.
- ``--nef`` defaults to "same as --ngf": SPADE's encoder ignores ``--nef`` and uses ``--ngf``;
  keeping that as the default keeps official checkpoints loadable while ``--nef N`` now works.
- options are saved as JSON (``opt.json``) instead of a pickle, and ``--load_from_opt_file``
  reads it back; a ``--seed`` option makes runs repeatable.

Options that several commands share (precision, the checkpoint to load, SPADE's no-op options)
are defined once in :mod:`options.groups` and composed by each command's class, so that a
command's namespace holds every option its code reads.

Option setters of datasets and networks (``modify_commandline_options(parser, is_train)``) may
call ``parser.peek()`` to see the options given so far, as SPADE's setters do with
``parse_known_args``.
"""
import argparse
import sys
from typing import Callable, Iterable, Optional, Sequence

import torch

from data.conventions import semantic_channels
from options import checks, opt_file
from util.errors import OptionError

OptionSetter = Callable[[argparse.ArgumentParser, bool], argparse.ArgumentParser]


class OptionParser(argparse.ArgumentParser):
    """An ArgumentParser that knows its command line, raises instead of exiting on errors,
    and lets option setters peek at the values given so far. Options named in ``hidden`` are
    accepted but left out of ``--help``."""

    def __init__(self, argv: Sequence[str], hidden: Iterable[str] = (), **kwargs) -> None:
        # -h is added last, so that the help lists the options the setters add too
        super().__init__(formatter_class=argparse.ArgumentDefaultsHelpFormatter, add_help=False, **kwargs)
        self.argv = list(argv)
        self.hidden = frozenset(hidden)

    def add_argument(self, *args, **kwargs) -> argparse.Action:
        action = super().add_argument(*args, **kwargs)
        if action.dest in self.hidden:
            action.help = argparse.SUPPRESS
        return action

    def peek(self) -> argparse.Namespace:
        return self.parse_known_args(self.argv)[0]

    def error(self, message: str) -> None:  # argparse would print usage and exit
        raise OptionError(message)


class BaseOptions:
    is_train = False
    never_saved: frozenset = frozenset()  # this command's options that opt.json never sets (besides RUN_CONTROL)
    hidden: frozenset = frozenset()  # options accepted but not listed by --help

    def initialize(self, parser: OptionParser) -> OptionParser:
        # experiment specifics
        parser.add_argument('--name', type=str, default='label2coco',
                            help='name of the experiment; decides where samples and models are stored')
        parser.add_argument('--gpu_ids', type=str, default=None,
                            help='gpu ids, e.g. 0 or 0,1,2; -1 for CPU [default: 0 when CUDA is available, else -1]')
        parser.add_argument('--checkpoints_dir', type=str, default='./checkpoints', help='models are saved here')
        parser.add_argument('--model', type=str, default='pix2pix', help='which model to use')
        parser.add_argument('--norm_G', type=str, default='spectralinstance', help='normalization of the generator')
        parser.add_argument('--norm_D', type=str, default='spectralinstance', help='normalization of the discriminator')
        parser.add_argument('--norm_E', type=str, default='spectralinstance', help='normalization of the encoder')
        parser.add_argument('--phase', type=str, default='train', help='train, val, test, etc')
        parser.add_argument('--seed', type=int, default=0, help='seed for python, numpy and torch in every process')

        # input/output sizes
        parser.add_argument('--batchSize', type=int, default=1, help='input batch size (global, over all GPUs)')
        parser.add_argument('--preprocess_mode', type=str, default='scale_width_and_crop',
                            choices=('resize_and_crop', 'crop', 'scale_width', 'scale_width_and_crop',
                                     'scale_shortside', 'scale_shortside_and_crop', 'fixed', 'none'),
                            help='scaling and cropping of images at load time')
        parser.add_argument('--load_size', type=int, default=1024,
                            help='scale images to this size; the final image is cropped to --crop_size')
        parser.add_argument('--crop_size', type=int, default=512,
                            help='crop to the width of crop_size (after scaling to load_size)')
        parser.add_argument('--aspect_ratio', type=float, default=1.0,
                            help='width/height; the final height is crop_size/aspect_ratio')
        parser.add_argument('--preprocess_fix', action='store_true',
                            help="correct SPADE's preprocessing defects (crops follow --aspect_ratio, scale_shortside "
                                 "scales the short side, a crop larger than the image is an error); by default "
                                 "preprocessing is exactly SPADE's")
        parser.add_argument('--label_nc', type=int, default=182,
                            help='# of input label classes without unknown class; see --contain_dontcare_label')
        parser.add_argument('--contain_dontcare_label', action='store_true',
                            help='the label map contains a dontcare label (dontcare=255)')
        parser.add_argument('--output_nc', type=int, default=3, help='# of output image channels')

        # for setting inputs
        parser.add_argument('--dataroot', type=str, default=None,
                            help='dataset folder; without it the built-in synthetic dataset is used')
        parser.add_argument('--dataset_mode', type=str, default=None,
                            help='dataset type [default: synthetic without --dataroot, else coco]')
        parser.add_argument('--serial_batches', action='store_true',
                            help='take images in order to make batches, otherwise randomly')
        parser.add_argument('--no_flip', action='store_true', help='do not flip images for data augmentation')
        parser.add_argument('--nThreads', default=0, type=int, help='# threads for loading data')
        parser.add_argument('--max_dataset_size', type=int, default=sys.maxsize,
                            help='maximum number of samples per dataset; a larger dataset is cut')
        parser.add_argument('--load_from_opt_file', action='store_true',
                            help='load the options from checkpoints_dir/name/opt.json and use them as defaults')
        parser.add_argument('--cache_filelist_write', action='store_true',
                            help='save the current file list into a text file, so that it loads faster')
        parser.add_argument('--cache_filelist_read', action='store_true', help='read the file list cache')

        # for displays
        parser.add_argument('--display_winsize', type=int, default=400, help='display window size')

        # for generator
        parser.add_argument('--netG', type=str, default='spade', help='generator: spade | pix2pixhd')
        parser.add_argument('--ngf', type=int, default=64, help='# of gen filters in first conv layer')
        parser.add_argument('--init_type', type=str, default='xavier',
                            choices=('normal', 'xavier', 'xavier_uniform', 'kaiming', 'orthogonal', 'none'),
                            help='network initialization')
        parser.add_argument('--init_variance', type=float, default=0.02,
                            help='variance of the initialization distribution')
        parser.add_argument('--z_dim', type=int, default=256, help='dimension of the latent z vector')

        # for instance-wise features
        parser.add_argument('--no_instance', action='store_true', help='do *not* add instance map as input')
        parser.add_argument('--nef', type=int, default=None,
                            help='# of encoder filters in the first conv layer [default: --ngf, as SPADE does]')
        parser.add_argument('--use_vae', action='store_true', help='enable training with an image encoder')
        return parser

    # ------------------------------------------------------------------ parsing
    def gather_options(self, argv: Sequence[str]) -> tuple[argparse.Namespace, OptionParser]:
        """Parse in SPADE's order: base options, then the model's and the dataset's setters.

        Precedence, highest first: the command line, ``opt.json`` (with
        ``--load_from_opt_file``), the setters' defaults, the defaults above.
        """
        parser = self.initialize(OptionParser(argv, hidden=self.hidden, prog=self.prog()))
        saved = {k: v for k, v in self.saved_options(parser).items() if k not in self.never_saved}
        opt_file.apply_saved_defaults(parser, saved)

        for setter in self.option_setters(parser.peek()):
            setter(parser, self.is_train)
        opt_file.apply_saved_defaults(parser, saved)  # over the setters' defaults (e.g. SPADE's --norm_G)

        parser.add_argument('-h', '--help', action='help', help='show this help message and exit')
        opt = parser.parse_args(parser.argv)
        return opt, parser

    def saved_options(self, parser: OptionParser) -> dict:
        """The run's saved options that become defaults: with ``--load_from_opt_file`` only."""
        seen = parser.peek()
        return opt_file.load_json(seen) if seen.load_from_opt_file else {}

    def option_setters(self, seen: argparse.Namespace) -> tuple[OptionSetter, ...]:
        """The setters that add the model's and the dataset's options."""
        # imported here: models and data import options-free modules only, but are heavy
        import data
        import models
        dataset_mode = resolve_dataset_mode(seen)
        return models.get_option_setter(seen.model), data.get_option_setter(dataset_mode)

    def parse(self, argv: Optional[Sequence[str]] = None, save: bool = False,
              verbose: bool = True) -> argparse.Namespace:
        """Parse ``argv`` (default: ``sys.argv[1:]``) and validate; raises :class:`OptionError`
        with one line. ``save`` writes ``checkpoints/<name>/opt.{json,txt}`` at once; train.py
        instead writes :meth:`option_files` once the run has started, so that a refused
        command leaves an existing run's options as they were."""
        argv = sys.argv[1:] if argv is None else list(argv)
        opt, parser = self.gather_options(argv)
        opt.isTrain = self.is_train
        opt.dataset_mode = resolve_dataset_mode(opt)
        opt.gpu_ids = parse_gpu_ids(opt.gpu_ids)
        opt.semantic_nc = semantic_channels(opt)
        self.adjust(opt)
        checks.validate(opt)
        self.parser = parser
        if verbose:
            print(opt_file.format_options(opt, parser))
        if save:
            opt_file.save(opt, parser)
        self.opt = opt
        return opt

    def adjust(self, opt: argparse.Namespace) -> None:
        """Values that follow from others (e.g. training's ``--debug``); nothing by default."""

    def option_files(self) -> dict[str, str]:
        """The text of ``opt.json`` and ``opt.txt`` for the last parsed options, by path."""
        return opt_file.render(self.opt, self.parser)

    def prog(self) -> str:
        return 'train.py' if self.is_train else 'test.py'


def resolve_dataset_mode(opt: argparse.Namespace) -> str:
    if opt.dataset_mode:
        return opt.dataset_mode
    return 'synthetic' if opt.dataroot is None else 'coco'


def parse_gpu_ids(text: Optional[str]) -> list[int]:
    if text is None:
        return [0] if torch.cuda.is_available() else []
    try:
        ids = [int(part) for part in str(text).split(',') if part.strip() != '']
    except ValueError:
        raise OptionError(f"--gpu_ids must be comma-separated integers such as 0,1 (or -1 for CPU), got '{text}'")
    return [i for i in ids if i >= 0]
