"""Segmenters for mIoU / pixel accuracy, chosen by ``--dataset_mode``.

A segmenter for another dataset plugs in with :func:`register_segmenter` (see
evaluation/README.md, e.g. DRN-D-105 for Cityscapes)::

    from evaluation.segmenters import Segmenter, register_segmenter
    register_segmenter('cityscapes', MyDRNSegmenter.from_settings)

How the dataset's label values map to the segmenter's classes is the dataset mode's own
convention (:mod:`data.conventions`, as :mod:`evaluation.labels` reads it), or is given to
:func:`register_segmenter`.
"""
from typing import Callable, Optional

from evaluation.labels import LABEL_CONVENTIONS, LabelConvention
from evaluation.segmenters.base import Segmenter, SegmenterSettings
from util.errors import UserError

SegmenterFactory = Callable[[SegmenterSettings], Segmenter]


def _upernet(settings: SegmenterSettings) -> Segmenter:
    from evaluation.segmenters.upernet_ade20k import UPerNetADE20K  # imports mit-semseg
    return UPerNetADE20K.from_settings(settings)


def _oracle(settings: SegmenterSettings) -> Segmenter:
    from evaluation.segmenters.oracle import OracleSegmenter
    return OracleSegmenter.from_settings(settings)


# dataset mode -> factory; factories import their networks lazily
SEGMENTERS: dict[str, SegmenterFactory] = {
    'ade20k': _upernet,
    'synthetic': _oracle,
}


def register_segmenter(dataset_mode: str, factory: SegmenterFactory,
                       labels: Optional[LabelConvention] = None) -> None:
    """Makes ``factory(settings) -> Segmenter`` the segmenter of ``dataset_mode``; ``labels``
    replaces the mode's label convention (:mod:`evaluation.labels`) when its classes differ."""
    SEGMENTERS[dataset_mode] = factory
    if labels is not None:
        LABEL_CONVENTIONS[dataset_mode] = labels


def has_segmenter(dataset_mode: Optional[str]) -> bool:
    return dataset_mode in SEGMENTERS


def require_segmenter(dataset_mode: Optional[str]) -> None:
    """Raises the error every evaluation path gives when mIoU is asked for a mode without a segmenter."""
    if dataset_mode in SEGMENTERS:
        return
    known = ', '.join(sorted(SEGMENTERS))
    if dataset_mode is None:
        raise UserError(f"mIoU needs --dataset_mode, to pick the segmenter ({known}; evaluation/README.md "
                        f"explains how to add one)")
    raise UserError(f"no segmenter for --dataset_mode {dataset_mode}: mIoU is available for {known} "
                    f"(evaluation/README.md explains how to add one); leave miou out of --metrics")


def build_segmenter(dataset_mode: Optional[str], settings: SegmenterSettings) -> Segmenter:
    require_segmenter(dataset_mode)
    return SEGMENTERS[dataset_mode](settings)


__all__ = ['Segmenter', 'SegmenterSettings', 'SegmenterFactory', 'SEGMENTERS', 'register_segmenter',
           'has_segmenter', 'require_segmenter', 'build_segmenter']
