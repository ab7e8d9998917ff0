"""Checks on dataset folders, file pairing and label values, each failing with one clear line.

Every error is a :class:`util.errors.DatasetError` whose message starts with the offending
file or folder and, where an option would fix it, names that option.
"""
import argparse
import os
from typing import Callable, Sequence

import numpy as np

from util.errors import DatasetError

DONTCARE = 255  # SPADE's 'dontcare' label value; becomes index label_nc
SHOW = 3        # how many example names an error message lists


def require_dir(path: str, option: str = '--dataroot') -> None:
    if not os.path.isdir(path):
        raise DatasetError(f"{path}: folder not found; check {option}")


def require_file(path: str, what: str, option: str = '--dataroot') -> None:
    if not os.path.isfile(path):
        raise DatasetError(f"{path}: {what} not found; check {option}")


def require_found(paths: Sequence, pattern: str, hint: str = '') -> None:
    """``paths`` were found by searching ``pattern``; an empty result is an error."""
    if not paths:
        raise DatasetError(f"{pattern}: no files found" + (f"; {hint}" if hint else ''))


def pair_by_key(labels: Sequence[str], others: Sequence[str], key: Callable[[str], str],
                label_where: str, other_where: str, other_name: str = 'image') -> list:
    """For each label path (in order) its partner among ``others`` with the same key.

    Every label needs exactly one partner and every partner one label; otherwise the error
    shows the first few names without a partner, or with several."""
    by_key, label_keys = _group(others, key), _group(labels, key)
    _reject_duplicates(by_key, other_where)
    _reject_duplicates(label_keys, label_where)
    missing = [p for p in labels if key(p) not in by_key]
    extra = [paths[0] for k, paths in by_key.items() if k not in label_keys]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"{len(missing)} label(s) without {other_name} in {other_where} "
                         f"(first: {_names(missing)})")
        if extra:
            parts.append(f"{len(extra)} {other_name}(s) without label in {label_where} (first: {_names(extra)})")
        raise DatasetError(f"{label_where}: labels and {other_name}s do not pair up: " + '; '.join(parts))
    return [by_key[key(p)][0] for p in labels]


def pair_in_order(labels: Sequence[str], others: Sequence[str], label_where: str, other_where: str) -> list:
    """SPADE's --no_pairing_check: the i-th label goes with the i-th file, names unchecked."""
    if len(labels) != len(others):
        raise DatasetError(f"{label_where}: {len(labels)} labels but {len(others)} files in {other_where}; "
                           f"with --no_pairing_check they are paired in sorted order, so the counts must match")
    return list(others)


def _group(paths: Sequence[str], key: Callable[[str], str]) -> dict:
    groups = {}
    for path in paths:
        groups.setdefault(key(path), []).append(path)
    return groups


def _reject_duplicates(groups: dict, where: str) -> None:
    clashes = [paths for paths in groups.values() if len(paths) > 1]
    if clashes:
        example = ', '.join(os.path.basename(p) for p in clashes[0][:SHOW])
        raise DatasetError(f"{where}: {len(clashes)} name(s) occur more than once with different "
                           f"extensions or folders (e.g. {example}); keep one file per name")


def _names(paths: Sequence[str]) -> str:
    shown = ', '.join(os.path.basename(p) for p in paths[:SHOW])
    return shown + (', ...' if len(paths) > SHOW else '')


def num_label_indices(opt: argparse.Namespace) -> int:
    """Number of class indices the model accepts: label_nc, plus dontcare when enabled."""
    return opt.label_nc + (1 if opt.contain_dontcare_label else 0)


def to_class_indices(labels: np.ndarray, path: str, opt: argparse.Namespace) -> np.ndarray:
    """Validate a label map and apply SPADE's convention 255 -> label_nc ('dontcare').

    Raises naming ``path``, the bad value and ``--label_nc`` when a value is out of range.
    Returns uint8 when the indices fit, int32 otherwise."""
    top = int(labels.max()) if labels.size else 0
    low = int(labels.min()) if labels.size else 0
    limit = num_label_indices(opt)
    if low < 0:
        raise DatasetError(f"{path}: negative label value {low}; labels must be class indices >= 0")
    if top < limit:
        return labels if labels.dtype == np.uint8 else labels.astype(np.int32)
    if opt.contain_dontcare_label and DONTCARE >= limit:
        mapped = labels.astype(np.int32)
        mapped[labels == DONTCARE] = opt.label_nc
        top = int(mapped.max())
        if top < limit:
            return mapped.astype(np.uint8) if limit <= 256 else mapped
    if top == DONTCARE and not opt.contain_dontcare_label:
        raise DatasetError(f"{path}: label value 255 ('dontcare') found but --contain_dontcare_label is off; "
                           f"add --contain_dontcare_label, or raise --label_nc above 255")
    raise DatasetError(f"{path}: label value {top} is out of range for --label_nc {opt.label_nc}"
                       f"{' with dontcare' if opt.contain_dontcare_label else ''} (valid: 0..{limit - 1}"
                       f"{', 255' if opt.contain_dontcare_label else ''}); set --label_nc to the number of classes")
