"""The interface every dataset mode implements (see ``data/__init__.py``)."""
import argparse

import torch.utils.data

from data.conventions import DatasetLabels


class BaseDataset(torch.utils.data.Dataset):
    """A dataset mode: per-sample dicts with ``label``, ``instance``, ``image`` and ``path``.

    ``has_images`` is False when there are only labels (custom mode at test time without
    ``--image_dir``); ``image`` is then a zero tensor of the output size."""

    has_images = True
    labels = DatasetLabels()  # what the mode's label values mean: plain class indices unless it says more

    @classmethod
    def labels_for(cls, opt: argparse.Namespace) -> DatasetLabels:
        """The mode's label conventions under ``opt`` (a mode whose numbering depends on its
        options overrides this)."""
        return cls.labels

    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
        """Set the mode's defaults with ``parser.set_defaults`` and add its own options."""
        return parser

    def __init__(self, opt: argparse.Namespace) -> None:
        super().__init__()
        self.opt = opt
