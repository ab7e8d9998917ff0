"""The generator's input channels that the options imply, defined once for data, models and options."""
import argparse


def label_channels(opt: argparse.Namespace) -> int:
    """Class indices a label map may hold: ``--label_nc``, plus SPADE's dontcare class."""
    return opt.label_nc + (1 if opt.contain_dontcare_label else 0)


def semantic_channels(opt: argparse.Namespace) -> int:
    """The generator's input: one-hot labels (+ dontcare) (+ the instance-edge map)."""
    return label_channels(opt) + (0 if opt.no_instance else 1)
