"""How a dataset mode's label values become the segmenter's class indices, and which are not scored.

One :class:`LabelConvention` per dataset mode serves both evaluation paths: the label files of
``evaluate.py --label_dir`` and the data loader's label tensors (training's ``--eval_freq``,
``evaluate.py --name``). The loaders hand on the values of the files unchanged, apart from
SPADE's dontcare (255 in a file becomes ``label_nc`` with ``--contain_dontcare_label``), so
one table covers both as long as it treats those two values alike.

Conventions:

- ``ade20k`` (CSAIL's UPerNet-101): annotation values 0 = unlabeled (not scored), 1..150 = the
  150 classes, which the network numbers 0..149.
- ``cityscapes``: label ids 0..33 to the 19 train ids that Cityscapes segmenters (DRN-D-105)
  predict; the other ids are not scored. No such segmenter ships with this project: the table
  is there for one registered with :func:`evaluation.segmenters.register_segmenter`.
- every other mode (the built-in ``synthetic`` oracle, a registered plug-in): values are the
  class indices ``0..num_classes-1``; SPADE's dontcare (``num_classes`` and 255) is not scored.

A value the table does not know is an error, never silently scored or ignored.
"""
from dataclasses import dataclass
from typing import Optional, Sequence, TypeVar, Union

import numpy as np
import torch

from evaluation.confusion import IGNORE_INDEX

INVALID = -2            # in a table: a value this dataset's labels never hold
DONTCARE_VALUE = 255    # SPADE's 'dontcare' in label files

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


def class_indices(num_classes: int) -> LabelConvention:
    """Labels that hold the class indices themselves, with SPADE's dontcare not scored."""
    ignored = [num_classes] + ([DONTCARE_VALUE] if DONTCARE_VALUE > num_classes else [])
    return from_pairs(f'class indices 0..{num_classes - 1} (or dontcare: {num_classes}, {DONTCARE_VALUE})',
                      max(ignored) + 1, {v: v for v in range(num_classes)}, ignored)


ADE20K_CLASSES = 150
ADE20K = from_pairs(f'ADE20K annotation values (0 = unlabeled, 1..{ADE20K_CLASSES} = classes)', ADE20K_CLASSES + 1,
                    {value: value - 1 for value in range(1, ADE20K_CLASSES + 1)}, ignored=[0])

# Cityscapes label id -> train id (road, sidewalk, building, wall, fence, pole, traffic light,
# traffic sign, vegetation, terrain, sky, person, rider, car, truck, bus, train, motorcycle, bicycle)
_CITYSCAPES_TRAIN_IDS = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10, 24: 11,
                         25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}
CITYSCAPES_LABEL_IDS = 35  # the loader's --label_nc: ids 0..33 occur, 34 is accepted
CITYSCAPES = from_pairs('Cityscapes label ids (0..33; those without a train id are not scored)', CITYSCAPES_LABEL_IDS,
                        _CITYSCAPES_TRAIN_IDS,
                        ignored=[v for v in range(CITYSCAPES_LABEL_IDS) if v not in _CITYSCAPES_TRAIN_IDS])

# dataset mode -> convention; a mode not listed uses class_indices(the segmenter's num_classes)
LABEL_CONVENTIONS: dict[str, LabelConvention] = {'ade20k': ADE20K, 'cityscapes': CITYSCAPES}


def label_convention(dataset_mode: Optional[str], num_classes: int) -> LabelConvention:
    """The convention of ``dataset_mode`` for a segmenter of ``num_classes`` classes."""
    convention = LABEL_CONVENTIONS.get(dataset_mode) if dataset_mode else None
    return convention if convention is not None else class_indices(num_classes)


def dataset_target(convention: LabelConvention, label: Union[np.ndarray, torch.Tensor]) -> torch.Tensor:
    """The data loader's label tensor ((B,1,H,W) or (B,H,W)) -> (B,H,W) class indices."""
    label = torch.as_tensor(label)
    if label.dim() == 4:
        label = label[:, 0]
    return convention.target(label)
