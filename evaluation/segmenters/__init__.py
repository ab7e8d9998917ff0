"""Segmenters for mIoU / pixel accuracy, chosen by ``--dataset_mode``.

A segmenter for another dataset plugs in with :func:`register_segmenter` (see
evaluation/README.md, e.g. DRN-D-105 for Cityscapes)::

    from evaluation.segmenters import Segmenter, register_segmenter
    register_segmenter('cityscapes', MyDRNSegmenter.from_settings)
"""
from typing import Callable, Optional

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


def register_segmenter(dataset_mode: str, factory: SegmenterFactory) -> None:
    """Makes ``factory(settings) -> Segmenter`` the segmenter of ``dataset_mode``."""
    SEGMENTERS[dataset_mode] = factory


def has_segmenter(dataset_mode: Optional[str]) -> bool:
    return dataset_mode in SEGMENTERS


def build_segmenter(dataset_mode: Optional[str], settings: SegmenterSettings) -> Segmenter:
    if dataset_mode not in SEGMENTERS:
        known = ', '.join(sorted(SEGMENTERS))
        raise UserError(f"no segmenter for --dataset_mode {dataset_mode} (mIoU is available for {known}; "
                        f"evaluation/README.md explains how to add one)")
    return SEGMENTERS[dataset_mode](settings)


__all__ = ['Segmenter', 'SegmenterSettings', 'SegmenterFactory', 'SEGMENTERS', 'register_segmenter',
           'has_segmenter', 'build_segmenter']
