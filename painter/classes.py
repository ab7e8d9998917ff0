"""The classes a run paints with: index, name and swatch colour.

Indices are the values a label map holds, exactly as the run's data loader reads them; their
names and the dataset's own swatches come from the dataset mode (:func:`data.dataset_labels`),
and a value without a name is numbered. With ``--contain_dontcare_label`` index ``label_nc`` is
SPADE's dontcare channel (the dataset's dontcare value in a file becomes it). Other swatches are
the colours test.py gives ``input_label`` images (SPADE's palette).
"""
import argparse
from dataclasses import dataclass

import numpy as np

from data import dataset_labels
from data.conventions import label_channels, palette_size
from util.util import labelcolormap


@dataclass(frozen=True)
class ClassTable:
    names: list          # name of each index 0..len-1
    colors: np.ndarray   # (len, 3) uint8 swatches, all different
    note: str = ''       # shown in the page when the names are uncertain

    def __len__(self) -> int:
        return len(self.names)

    def as_json(self) -> list:
        return [{'index': i, 'name': name, 'color': [int(c) for c in self.colors[i]]}
                for i, name in enumerate(self.names)]


def class_table(opt: argparse.Namespace) -> ClassTable:
    """Names and swatches of the indices ``0 .. label_channels(opt) - 1`` the run's generator reads."""
    count = label_channels(opt)
    labels = dataset_labels(opt)
    names = []
    for index in range(count):
        if index < len(labels.names) and labels.names[index]:
            names.append(labels.names[index])
        elif opt.contain_dontcare_label and index == opt.label_nc:
            names.append('dontcare')
        else:
            names.append(f'class {index}')
    if labels.colors and count <= len(labels.colors):
        colors = np.array(labels.colors[:count])
    else:
        colors = labelcolormap(palette_size(opt))[:count]  # test.py's input_label colours
        if len(np.unique(colors, axis=0)) < count:  # SPADE's 35-entry Cityscapes palette repeats colours
            colors = labelcolormap(max(count, 36))[:count]
    return ClassTable(names, np.asarray(colors, dtype=np.uint8), labels.note)
