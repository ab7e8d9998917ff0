"""How a dataset mode's label values become the segmenter's class indices, and which are not scored.

One :class:`LabelConvention` per dataset mode serves both evaluation paths: the label files of
``evaluate.py --label_dir`` and the data loader's label tensors (training's ``--eval_freq``,
``evaluate.py --name``). The loaders hand on the values of the files unchanged, apart from
SPADE's dontcare (the dataset's dontcare value in a file becomes ``label_nc`` with
``--contain_dontcare_label``), so one table covers both as long as it treats those two values alike.

The conventions are the datasets' own (:mod:`data.conventions`, each mode's ``labels``):

- a mode whose values are not its segmenter's classes says how they map (``ade20k``: 0 =
  unlabeled, not scored, 1..150 = UPerNet's 0..149; ``cityscapes``: label ids to the 19 train
  ids that Cityscapes segmenters predict, the other ids not scored);
- every other mode (the built-in ``synthetic`` oracle, a registered plug-in): values are the
  class indices ``0..num_classes-1``; SPADE's dontcare (``num_classes`` and the mode's dontcare
  value) is not scored.

A value the table does not know is an error, never silently scored or ignored.
"""
from dataclasses import dataclass
from typing import Optional, Sequence, TypeVar, Union

import numpy as np
import torch

from data import DATASETS
from data.conventions import DONTCARE, SegmenterLabels
from evaluation.confusion import IGNORE_INDEX

INVALID = -2            # in a table: a value this dataset's labels never hold

Labels = TypeVar('Labels', np.ndarray, torch.Tensor)


@dataclass(frozen=True)
class LabelConvention:
    """``table[value]``: the class index for label ``value``, :data:`IGNORE_INDEX` where such
    pixels are not scored, :data:`INVALID` where the value cannot occur; values past the end
    of the table cannot occur either. ``description`` says what the values are, for errors."""
    description: str
    table: tuple[int, ...]

    @property
    def num_classes(self) -> int:
        """Classes the table maps to (the segmenter must predict at least as many)."""
        return max(self.table) + 1

    def target(self, values: Labels) -> Labels:
        """Label values (any shape, numpy or torch) -> int64 class indices of the same shape and
        kind, :data:`IGNORE_INDEX` where not scored. Raises ValueError on a value the
        convention does not know."""
        indices = torch.as_tensor(values).long()
        lookup = torch.tensor(self.table, dtype=torch.int64, device=indices.device)
        known = (indices >= 0) & (indices < len(self.table))
        target = torch.full_like(indices, INVALID)
        target[known] = lookup[indices[known]]
        if bool((target == INVALID).any()):
            bad = torch.unique(indices[target == INVALID])
            shown = ', '.join(str(int(v)) for v in bad[:5]) + (', ...' if len(bad) > 5 else '')
            raise ValueError(f"label value(s) {shown} are not {self.description}")
        return target.cpu().numpy() if isinstance(values, np.ndarray) else target


def from_pairs(description: str, size: int, pairs: dict[int, int], ignored: Sequence[int] = ()) -> LabelConvention:
    """A convention for values ``0..size-1``: ``pairs`` value -> class, ``ignored`` values not
    scored, everything else invalid."""
    table = [INVALID] * size
    for value in ignored:
        table[value] = IGNORE_INDEX
    for value, cls in pairs.items():
        table[value] = cls
    return LabelConvention(description, tuple(table))


def class_indices(num_classes: int, dontcare: int = DONTCARE) -> LabelConvention:
    """Labels that hold the class indices themselves, with SPADE's dontcare not scored."""
    ignored = [num_classes] + ([dontcare] if dontcare > num_classes else [])
    return from_pairs(f'class indices 0..{num_classes - 1} (or dontcare: {num_classes}, {dontcare})',
                      max(ignored) + 1, {v: v for v in range(num_classes)}, ignored)


def from_dataset(labels: SegmenterLabels) -> LabelConvention:
    """A dataset's own mapping (:class:`data.conventions.SegmenterLabels`) as a convention."""
    return from_pairs(labels.description, labels.values, dict(labels.classes),
                      ignored=[v for v in range(labels.values) if v not in labels.classes])


# dataset mode -> convention; a mode not listed uses class_indices(the segmenter's num_classes)
LABEL_CONVENTIONS: dict[str, LabelConvention] = {
    mode: from_dataset(dataset.labels.segmenter) for mode, dataset in DATASETS.items()
    if dataset.labels.segmenter is not None}
ADE20K, CITYSCAPES = LABEL_CONVENTIONS['ade20k'], LABEL_CONVENTIONS['cityscapes']
ADE20K_CLASSES = ADE20K.num_classes  # UPerNet's classes


def label_convention(dataset_mode: Optional[str], num_classes: int) -> LabelConvention:
    """The convention of ``dataset_mode`` for a segmenter of ``num_classes`` classes."""
    convention = LABEL_CONVENTIONS.get(dataset_mode) if dataset_mode else None
    if convention is not None:
        return convention
    dataset = DATASETS.get(dataset_mode)
    return class_indices(num_classes, dataset.labels.dontcare if dataset is not None else DONTCARE)


def dataset_target(convention: LabelConvention, label: Union[np.ndarray, torch.Tensor]) -> torch.Tensor:
    """The data loader's label tensor ((B,1,H,W) or (B,H,W)) -> (B,H,W) class indices."""
    label = torch.as_tensor(label)
    if label.dim() == 4:
        label = label[:, 0]
    return convention.target(label)
