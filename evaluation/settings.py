"""Everything that decides how metrics are computed, as one value the library passes around
(``evaluation.options.settings_from_opt`` builds it from the command line).

Like ``evaluation.options``, this module imports no metric network: the option classes of
train.py and test.py import both."""
import os
from dataclasses import dataclass, field
from typing import Optional

METRICS = ('fid', 'miou', 'swd', 'texture')  # 'miou' also yields pixel accuracy
SWD_DATASETS = ('celebahq', 'deepfashion', 'synthetic')  # where the literature reports SWD
TEXTURE_DATASETS = ('synthetic',)  # where every class's texture is known (data/synthetic.py)
# pytorch-fid's Inception blocks by feature size (InceptionV3.BLOCK_INDEX_BY_DIM); written out so
# that the options can offer them without importing pytorch-fid (a test checks they still agree)
FID_DIMS = (64, 192, 768, 2048)


def default_fid_cache_dir() -> str:
    base = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
    return os.path.join(base, 'monce-spade', 'fid_stats')


@dataclass(frozen=True)
class EvalSettings:
    fid_weights: Optional[str] = None        # pytorch-fid's Inception state dict; None: torch hub cache
    fid_dims: int = 2048                      # 2048 (pool3) is the standard FID
    fid_cache_dir: Optional[str] = field(default_factory=default_fid_cache_dir)  # '' or None: no cache
    seg_weights: Optional[str] = None        # the segmenter's weights (ADE20K: folder of the two .pth files)
    seg_scales: Optional[tuple[int, ...]] = None  # None: the segmenter's own default
    swd_seed: int = 0
    batch_size: int = 8
    metrics: Optional[tuple[str, ...]] = None  # None: every metric that applies


def applicable_metrics(dataset_mode: Optional[str], have_labels: bool, has_segmenter: bool) -> tuple[str, ...]:
    """The metrics reported by default: FID always; mIoU / pixel accuracy when there are label
    maps and a segmenter for the dataset; SWD where papers report it (CelebA-HQ, DeepFashion,
    the built-in dataset) and for plain folders without a dataset mode; the texture error
    with label maps of the built-in dataset, whose textures are known."""
    metrics = ['fid']
    if have_labels and has_segmenter:
        metrics.append('miou')
    if dataset_mode is None or dataset_mode in SWD_DATASETS:
        metrics.append('swd')
    if have_labels and dataset_mode in TEXTURE_DATASETS:
        metrics.append('texture')
    return tuple(metrics)
