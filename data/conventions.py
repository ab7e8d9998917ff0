"""What a dataset's label values mean, and how many input channels the options imply.

Each dataset mode states its conventions once, in a :class:`DatasetLabels` (its class's
``labels``, see :func:`data.dataset_labels`): the names of its label values, its own swatch
colours, the value SPADE reads as dontcare, whether its label is a dense map instead of class
indices, and which class each value is for the mode's segmenter. The loader's checks
(:mod:`data.validation`), evaluation's label conventions (:mod:`evaluation.labels`), the
painter's class table and export ask it; none of them branches on ``--dataset_mode`` for these.

This module imports ``util`` only, so that data, models, evaluation and options can all use it
(see docs/architecture.md for the layers).
"""
import argparse
from dataclasses import dataclass
from typing import Mapping, Optional

import numpy as np
import torch

from util.util import dense2im, tensor2label

DONTCARE = 255  # SPADE's 'dontcare' label value (COCO-Stuff's 'unlabeled'); becomes index label_nc


@dataclass(frozen=True)
class SegmenterLabels:
    """How a mode's label values become the classes its segmenter predicts, for a mode whose
    values are not those classes themselves."""
    description: str             # what the values are, for error messages
    values: int                  # the values 0..values-1 can occur; others are errors
    classes: Mapping[int, int]   # value -> segmenter class; the other values are not scored


@dataclass(frozen=True)
class DatasetLabels:
    """The label conventions of one dataset mode; the defaults are those of plain class indices."""
    names: tuple[str, ...] = ()                  # name of each value; '' or past the end: numbered
    colors: tuple[tuple[int, int, int], ...] = ()  # the mode's own swatches; empty: SPADE's palette
    note: str = ''                               # what is uncertain about the names, for the painter
    dontcare: int = DONTCARE                     # the value --contain_dontcare_label turns into label_nc
    dense: bool = False                          # a float map of channels (a pose), not class indices
    segmenter: Optional[SegmenterLabels] = None  # None: values are the segmenter's classes


def label_channels(opt: argparse.Namespace) -> int:
    """Class indices a label map may hold: ``--label_nc``, plus SPADE's dontcare class."""
    return opt.label_nc + (1 if opt.contain_dontcare_label else 0)


def semantic_channels(opt: argparse.Namespace) -> int:
    """The generator's input: one-hot labels (+ dontcare) (+ the instance-edge map)."""
    return label_channels(opt) + (0 if opt.no_instance else 1)


def palette_size(opt: argparse.Namespace) -> int:
    """Entries of SPADE's palette (:func:`util.util.labelcolormap`) for a run's label maps:
    ``--label_nc + 2``, SPADE's choice, which leaves the dontcare index a colour."""
    return opt.label_nc + 2


def label_image(label: torch.Tensor, opt: argparse.Namespace) -> np.ndarray:
    """A sample's label (1,H,W indices or C,H,W dense map) as SPADE shows it, uint8 (H,W,3):
    test.py's ``input_label`` images and training's logged grids."""
    if label.is_floating_point():
        return dense2im(label)
    return tensor2label(label, palette_size(opt))
