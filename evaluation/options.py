"""Command-line options of the metrics, shared by evaluate.py, test.py and train.py.

The option classes call :func:`modify_commandline_options`; code that computes metrics turns
the parsed options into :class:`EvalSettings` with :func:`settings_from_opt`. Values stay
plain strings and numbers in ``opt`` so that ``opt.json`` keeps them as given.

Only light modules are imported here (``evaluation.settings``, no torch): ``train.py --help``,
``test.py --help`` and a training run without ``--eval_freq`` must not load pytorch-fid or the
segmenters (tests/test_import_layers.py).
"""
import argparse
import re
from dataclasses import dataclass
from typing import Optional

from evaluation.settings import FID_DIMS, METRICS, EvalSettings, default_fid_cache_dir


@dataclass(frozen=True)
class EvalFrequency:
    """How often training evaluates: every ``every`` training images or epochs; 0 = never."""
    every: int = 0
    unit: str = 'images'  # 'images' | 'epoch'

    @property
    def enabled(self) -> bool:
        return self.every > 0

    def due_after_images(self, before: int, after: int) -> bool:
        """Whether the count of training images passed a multiple of ``every`` going from
        ``before`` to ``after`` (it advances by the batch size, as SPADE's counter does)."""
        return self.enabled and self.unit == 'images' and after // self.every > before // self.every

    def due_after_epoch(self, epoch: int) -> bool:
        """Whether to evaluate at the end of ``epoch`` (counted from 1)."""
        return self.enabled and self.unit == 'epoch' and epoch % self.every == 0

    def describe(self) -> str:
        """'every 5000 training images', 'every 2 epochs' or 'never', for messages."""
        if not self.enabled:
            return 'never'
        unit = 'training images' if self.unit == 'images' else 'epochs'
        return f'every {self.every} {unit}' if self.every > 1 else f'every {unit[:-1]}'


# 'i', 'it', 'iter'... are the spellings of earlier versions, kept so that their command lines
# run unchanged: they counted training images (as SPADE's "iteration" counter does), and still do
_FREQ = re.compile(r'^\s*(\d+)\s*(|img|images?|i|it|iter|iters|iterations?|e|ep|epochs?)\s*$', re.IGNORECASE)


def parse_eval_freq(text: str) -> EvalFrequency:
    """'0' (off), '5000' or '5000img' (training images), '2e' or '2epochs' (epochs)."""
    match = _FREQ.match(str(text))
    if not match:
        raise argparse.ArgumentTypeError(f"--eval_freq '{text}': expected N or Nimg (training images), Ne (epochs) "
                                         f"or 0 (off), e.g. 5000 or 2e")
    unit = 'epoch' if match.group(2).lower().startswith('e') else 'images'
    return EvalFrequency(int(match.group(1)), unit)


def parse_scales(text: Optional[str]) -> Optional[tuple[int, ...]]:
    """'300,375,450' -> (300, 375, 450); None or '' -> None (the segmenter's default)."""
    if text is None or str(text).strip() == '':
        return None
    try:
        scales = tuple(int(part) for part in str(text).split(',') if part.strip())
    except ValueError:
        scales = ()
    if not scales or min(scales) < 1:
        raise argparse.ArgumentTypeError(f"--seg_scales '{text}': expected positive integers such as 300,375,450")
    return scales


def parse_metrics(text: Optional[str]) -> Optional[tuple[str, ...]]:
    """'fid,swd' -> ('fid', 'swd'); None, '' or 'auto' -> None (every metric that applies)."""
    if text is None or str(text).strip().lower() in ('', 'auto'):
        return None
    names = tuple(dict.fromkeys(part.strip().lower() for part in str(text).split(',') if part.strip()))
    unknown = [name for name in names if name not in METRICS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"--metrics '{text}': choose from {', '.join(METRICS)} or auto")
    return names


def positive_int(text: str) -> int:
    return _int_at_least(text, 1, 'a positive integer')


def non_negative_int(text: str) -> int:
    return _int_at_least(text, 0, 'an integer >= 0')


def _int_at_least(text: str, low: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if value < low:
        raise argparse.ArgumentTypeError(f"expected {what}, got '{text}'")
    return value


def _checked(parse):
    # argparse runs `type` for validation; opt keeps the text as given (JSON-friendly)
    def check(text: str) -> str:
        parse(text)
        return text
    check.__name__ = parse.__name__
    return check


def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
    parser.add_argument('--fid_weights', type=str, default=None,
                        help="pytorch-fid's Inception weights (pt_inception-2015-12-05-6726825d.pth) for offline "
                             "use [default: torch hub's cache, downloaded on first use]")
    parser.add_argument('--fid_dims', type=int, default=2048, choices=FID_DIMS,
                        help='Inception features for FID; papers use 2048')
    parser.add_argument('--fid_cache_dir', type=str, default=default_fid_cache_dir(),
                        help="cache of the real images' FID statistics; '' disables it")
    parser.add_argument('--seg_weights', type=str, default=None,
                        help='segmenter weights for mIoU; ADE20K: the folder with CSAIL UPerNet-101\'s '
                             'encoder_epoch_50.pth and decoder_epoch_50.pth')
    parser.add_argument('--seg_scales', type=_checked(parse_scales), default=None,
                        help="segmenter test scales (short side, px), comma-separated [default: the segmenter's "
                             "own; ADE20K 300,375,450,525,600]")
    parser.add_argument('--swd_seed', type=non_negative_int, default=0,
                        help='seed of the random patches and directions of SWD')
    parser.add_argument('--eval_batch_size', type=positive_int, default=8,
                        help='images per batch for the metric networks')
    parser.add_argument('--metrics', type=_checked(parse_metrics), default='auto',
                        help=f"comma-separated subset of {', '.join(METRICS)} (miou includes pixel accuracy; "
                             f"texture: the texture error against the known textures of --dataset_mode synthetic, "
                             f"with label maps); auto: every metric that applies to the dataset")
    if is_train:
        parser.add_argument('--eval_freq', type=_checked(parse_eval_freq), default='0',
                            help='evaluate on the validation split every N training images (N or Nimg, e.g. 5000: '
                                 'images, not iterations, counted like --save_latest_freq as SPADE counts; the '
                                 "suffix 'it' of earlier versions also counts images) or every N epochs (Ne, e.g. "
                                 '2e); 0: never')
        parser.add_argument('--eval_num', type=positive_int, default=500,
                            help='validation images generated and scored at each evaluation during training')
    return parser


def settings_from_opt(opt: argparse.Namespace) -> EvalSettings:
    """The :class:`EvalSettings` of options parsed with :func:`modify_commandline_options`."""
    return EvalSettings(
        fid_weights=opt.fid_weights or None,
        fid_dims=opt.fid_dims,
        fid_cache_dir=opt.fid_cache_dir,
        seg_weights=opt.seg_weights or None,
        seg_scales=parse_scales(opt.seg_scales),
        swd_seed=opt.swd_seed,
        batch_size=opt.eval_batch_size,
        metrics=parse_metrics(opt.metrics),
    )


def eval_frequency(opt: argparse.Namespace) -> EvalFrequency:
    """The parsed ``--eval_freq`` of training options."""
    return parse_eval_freq(opt.eval_freq)
