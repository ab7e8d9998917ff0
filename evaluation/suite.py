"""Metrics over batches in memory: the API the training loop (``--eval_freq``) and every
evaluation front end use.

    suite = MetricSuite.for_dataset(settings, 'ade20k', have_labels=True, device=device)  # once
    reference = suite.reference_stats(split='val', size=256, files=val_image_paths,
                                      images=lambda: (batch['image'] for batch in val_loader))
    run = suite.start(reference)
    for batch in val_loader:
        run.add(generator(batch), real=batch['image'], label=batch['label'])
    metrics = run.results()   # {'fid': ..., 'miou': ..., 'pixel_acc': ..., 'num_images': ...}

Images are (B,3,H,W) float in [-1,1] (or uint8); ``label`` is the data loader's label tensor,
read by the dataset mode's label convention (:mod:`evaluation.labels`) as label files are.
mIoU and the texture error (built-in dataset only) need it.
"""
import warnings
from typing import TYPE_CHECKING, Callable, Iterable, Optional, Sequence, Union

import numpy as np
import torch

from evaluation import fid_cache
from evaluation.confusion import ConfusionMatrix
from evaluation.fid import ActivationSet, FIDStats, fid_from_stats, load_inception, stats_of_batches
from evaluation.images import printable, to_uint8
from evaluation.labels import LabelConvention, dataset_target, label_convention
from evaluation.segmenters import Segmenter, SegmenterSettings, build_segmenter, has_segmenter, require_segmenter
from evaluation.settings import METRICS, TEXTURE_DATASETS, EvalSettings, applicable_metrics
from evaluation.swd import FAKE, REAL, PatchSet, swd_between
from util.errors import DatasetError, UserError

if TYPE_CHECKING:
    from evaluation.texture import TextureError

Device = Union[str, torch.device]


class MetricSuite:
    """The networks the chosen metrics need, loaded once and reused by every :meth:`start`."""

    def __init__(self, settings: EvalSettings, dataset_mode: Optional[str], metrics: Sequence[str],
                 device: Device = 'cpu'):
        unknown = [m for m in metrics if m not in METRICS]
        if unknown or not metrics:
            raise UserError(f"unknown metrics {unknown or '(none)'}: choose from {', '.join(METRICS)}")
        self.settings = settings
        self.dataset_mode = dataset_mode
        self.metrics = tuple(metrics)
        # the cheap checks first, so that a bad option does not wait for Inception to load
        _require_applicable(metrics, dataset_mode)
        if 'fid' in metrics:
            fid_cache.check_cache_dir(settings.fid_cache_dir)
        self.inception = load_inception(settings.fid_weights, settings.fid_dims, device) if 'fid' in metrics else None
        self.segmenter: Optional[Segmenter] = None
        self.labels: Optional[LabelConvention] = None  # the dataset mode's label values -> class indices
        if 'miou' in metrics:
            self.segmenter, self.labels = _segmentation(settings, dataset_mode, device)
        elif 'texture' in metrics:
            self.labels = _texture_labels(dataset_mode)

    @classmethod
    def for_dataset(cls, settings: EvalSettings, dataset_mode: Optional[str], have_labels: bool,
                    device: Device = 'cpu') -> 'MetricSuite':
        """``settings.metrics``, or else every metric that applies to the dataset."""
        return cls(settings, dataset_mode, resolve_metrics(settings, dataset_mode, have_labels), device)

    def target_from_file(self, values: np.ndarray, path: str) -> np.ndarray:
        """A label file's values -> class indices (:data:`IGNORE_INDEX` = not scored), by the
        same convention as the data loader's labels in :meth:`MetricRun.add`."""
        try:
            return self.labels.target(values)
        except ValueError as exc:
            raise DatasetError(f"label map '{printable(path)}': {exc} (the labels of --dataset_mode "
                               f"{self.dataset_mode}); give that dataset's label files with --label_dir") from None

    def reference_stats(self, *, split: str, size: fid_cache.Size, files: Sequence[str],
                        images: Callable[[], Iterable[torch.Tensor]], preprocess: str = 'dataset loader') -> FIDStats:
        """The real images' FID statistics from the cache, or from ``images()`` (then cached).

        ``files`` are the real image paths (their sizes and mtimes key the cache), ``size`` and
        ``preprocess`` describe how the loader prepares them, ``split`` names the split. For
        images without files (the synthetic dataset) put what identifies them, e.g. the seed
        and the number of images, into ``preprocess``."""
        if self.inception is None:
            raise ValueError("reference_stats needs a suite with the 'fid' metric")
        stats, _ = fid_cache.cached_stats(
            self.settings.fid_cache_dir, dataset=self.dataset_mode or 'folder', split=split, size=size,
            files=files, features=self.inception, preprocess=preprocess,
            compute=lambda: stats_of_batches(self.inception, images()))
        return stats

    def start(self, reference: Optional[FIDStats] = None) -> 'MetricRun':
        """A new accumulation. With ``reference`` (the reals' FID statistics) real images are
        only needed for SWD; without it their FID statistics are computed in the same pass."""
        return MetricRun(self, reference)


def resolve_metrics(settings: EvalSettings, dataset_mode: Optional[str], have_labels: bool) -> tuple[str, ...]:
    """``settings.metrics``, or else every metric that applies to the dataset; asking for mIoU
    where there is no segmenter, or for the texture error on another dataset, is the same
    error on every path."""
    metrics = settings.metrics or applicable_metrics(dataset_mode, have_labels, has_segmenter(dataset_mode))
    _require_applicable(metrics, dataset_mode)
    return tuple(metrics)


def _require_applicable(metrics: Sequence[str], dataset_mode: Optional[str]) -> None:
    if 'miou' in metrics:
        require_segmenter(dataset_mode)
    if 'texture' in metrics and dataset_mode not in TEXTURE_DATASETS:
        given = f'--dataset_mode {dataset_mode}' if dataset_mode else 'images without --dataset_mode'
        raise UserError(f"the texture error needs the built-in dataset's known textures (--dataset_mode "
                        f"{' or '.join(TEXTURE_DATASETS)}), not {given}; leave texture out of --metrics")


def _texture_labels(dataset_mode: Optional[str]) -> LabelConvention:
    """The built-in dataset's labels are its class indices, as for its oracle segmenter."""
    from data.synthetic import NUM_CLASSES  # the data package is heavy: only imported when the metric is asked for
    return label_convention(dataset_mode, NUM_CLASSES)


def _texture_error() -> 'TextureError':
    from evaluation.texture import TextureError  # imports the data package, as above
    return TextureError()


def _segmentation(settings: EvalSettings, dataset_mode: Optional[str],
                  device: Device) -> tuple[Segmenter, LabelConvention]:
    """The dataset mode's segmenter and the convention that maps its label values to the
    segmenter's classes (both paths, files and loader, use this one)."""
    segmenter = build_segmenter(dataset_mode, SegmenterSettings(settings.seg_weights, device, settings.seg_scales))
    labels = label_convention(dataset_mode, segmenter.num_classes)
    if labels.num_classes > segmenter.num_classes:
        raise UserError(f"the labels of --dataset_mode {dataset_mode} map to {labels.num_classes} classes but its "
                        f"segmenter predicts {segmenter.num_classes}: register the segmenter with its label "
                        f"convention")
    return segmenter, labels


class MetricRun:
    """One evaluation: batches go in with :meth:`add`, numbers come out of :meth:`results`."""

    def __init__(self, suite: MetricSuite, reference: Optional[FIDStats]):
        self.suite = suite
        self.reference = reference
        fid = suite.inception is not None
        self.fake_acts = ActivationSet(suite.inception) if fid else None
        self.real_acts = ActivationSet(suite.inception) if fid and reference is None else None
        self.confusion = ConfusionMatrix(suite.segmenter.num_classes) if suite.segmenter else None
        seed = suite.settings.swd_seed
        swd = 'swd' in suite.metrics
        self.real_patches = PatchSet(seed, REAL) if swd else None
        self.fake_patches = PatchSet(seed, FAKE) if swd else None
        self.texture = _texture_error() if 'texture' in suite.metrics else None
        self.count = 0
        self._real_stats: Optional[FIDStats] = reference

    @property
    def needs_reals(self) -> bool:
        return self.real_acts is not None or self.real_patches is not None or self.texture is not None

    def add(self, fake: torch.Tensor, real: Optional[torch.Tensor] = None, label: Optional[torch.Tensor] = None,
            target: Optional[torch.Tensor] = None) -> None:
        """One batch: generated images, their real images (needed when :attr:`needs_reals`),
        and for mIoU and the texture error either ``label`` (the data loader's label tensor) or
        ``target`` ((B,H,W) class indices, -1 = not scored)."""
        fake = to_uint8(fake)
        if self.needs_reals:
            if real is None:
                raise ValueError('this run needs the real images (FID reference, SWD or texture)')
            real = to_uint8(real)
        if self.fake_acts is not None:
            self.fake_acts.add(fake)
        if self.real_acts is not None:
            self.real_acts.add(real)
        if self.suite.labels is not None:
            target = self._target(label, target)
        if self.confusion is not None:
            self._add_segmentation(fake, target)
        if self.real_patches is not None:
            self.real_patches.add(real)
            self.fake_patches.add(fake)
        if self.texture is not None:
            self.texture.add(fake, real, target)
        self.count += fake.shape[0]

    def _target(self, label: Optional[torch.Tensor], target: Optional[torch.Tensor]) -> torch.Tensor:
        """(B,H,W) class indices, -1 = not scored: ``target``, or the loader's ``label`` read by
        the dataset mode's convention."""
        if target is not None:
            return torch.as_tensor(target)
        if label is None:
            users = [name for name, used in (('mIoU', self.confusion), ('the texture error', self.texture)) if used]
            raise ValueError(f"{' and '.join(users)} need{'s' if len(users) == 1 else ''} the label maps "
                             f"(label= or target=)")
        try:
            return dataset_target(self.suite.labels, label)
        except ValueError as exc:  # the loader's values do not fit the mode's convention
            raise DatasetError(f"the data loader's labels of --dataset_mode {self.suite.dataset_mode}: "
                               f"{exc}; check --label_nc") from None

    def _add_segmentation(self, fake: torch.Tensor, target: torch.Tensor) -> None:
        predicted = self.suite.segmenter(fake)
        if tuple(target.shape) != tuple(predicted.shape):
            raise ValueError(f"label maps {tuple(target.shape)} do not match the images {tuple(predicted.shape)}")
        self.confusion.update(predicted, target)

    @property
    def real_stats(self) -> Optional[FIDStats]:
        """The reals' FID statistics: the reference, or those computed in this run (read it
        after the last :meth:`add`)."""
        if self._real_stats is None and self.real_acts is not None:
            self._real_stats = self.real_acts.stats()
        return self._real_stats

    def results(self) -> dict:
        """{'fid', 'miou', 'pixel_acc', 'swd', 'swd_levels', 'texture_error',
        'texture_error_classes'} for the metrics of the suite, and 'num_images'. A metric the
        images do not define is NaN, and a warning says why."""
        out: dict = {}
        if self.fake_acts is not None:
            out['fid'] = fid_from_stats(self.fake_acts.stats(), self.real_stats)
        if self.confusion is not None:
            out['miou'] = self.confusion.mean_iou()
            out['pixel_acc'] = self.confusion.pixel_accuracy()
            if not self.confusion.total:
                warnings.warn(f"mIoU and pixel accuracy: not defined for these {self.count} images: no pixel of "
                              f"their label maps is labelled (every one is ignored)")
        if self.real_patches is not None:
            out.update(swd_between(self.real_patches, self.fake_patches, self.suite.settings.swd_seed).as_dict())
        if self.texture is not None:
            out.update(self.texture.results())
        out['num_images'] = self.count
        return out
