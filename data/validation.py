"""Checks on dataset folders, file pairing and label values, each failing with one clear line.

Every error is a :class:`util.errors.DatasetError` whose message starts with the offending
file or folder and, where an option would fix it, names that option.
"""
import argparse
import codecs
import os
from typing import Callable, Sequence

import numpy as np

from data.conventions import label_channels
from util.errors import DatasetError

SHOW = 3        # how many example names an error message lists
LOSSY_EXTENSIONS = ('.jpg', '.jpeg')


def require_dir(path: str, option: str = '--dataroot') -> None:
    if not os.path.isdir(path):
        found = 'is a file, not a folder' if os.path.exists(path) else 'folder not found'
        raise DatasetError(f"{path}: {found}; check {option}")


def require_file(path: str, what: str, option: str = '--dataroot') -> None:
    if not os.path.isfile(path):
        raise DatasetError(f"{path}: {what} not found; check {option}")


def require_found(paths: Sequence, pattern: str, hint: str = '') -> None:
    """``paths`` were found by searching ``pattern``; an empty result is an error."""
    if not paths:
        raise DatasetError(f"{pattern}: no files found" + (f"; {hint}" if hint else ''))


def refuse_lossy_names(paths: Sequence[str], what: str, where: str) -> None:
    """No ``what`` map may be a JPEG file: found at start-up by name, rather than when training
    first loads one (each load also checks the file's real format)."""
    lossy = [p for p in paths if os.path.splitext(p)[1].lower() in LOSSY_EXTENSIONS]
    if lossy:
        raise DatasetError(f"{where}: {len(lossy)} {what} map(s) saved as JPEG (first: {_names(lossy)}); JPEG "
                           f"compression changes pixel values and so invents classes along edges. Save {what} "
                           f"maps as PNG from the original data (converting these files keeps the damage)")


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


def reject_duplicate_keys(paths: Sequence[str], key: Callable[[str], str], where: str) -> None:
    """Each key (e.g. a name without extension) may occur once among ``paths``."""
    _reject_duplicates(_group(paths, key), where)


def read_text_lines(path: str) -> list:
    """``(line number, text)`` for each line of a list file, decoded as UTF-8 (a leading BOM,
    as Windows editors write, is dropped); other bytes fail naming the line."""
    try:
        with open(path, 'rb') as handle:
            payload = handle.read()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the list file ({exc.strerror or exc})")
    body = payload[len(codecs.BOM_UTF8):] if payload.startswith(codecs.BOM_UTF8) else payload
    try:
        text = body.decode('utf-8')
    except UnicodeDecodeError as exc:
        line = len(_split_lines(body[:exc.start].decode('latin-1')))  # any bytes decode; line ends kept
        raise DatasetError(f"{path}: line {line} is not UTF-8 text (byte 0x{body[exc.start]:02x}); "
                           f"save the file as plain UTF-8 or ASCII text")
    return list(enumerate(_split_lines(text), 1))


def _split_lines(text: str) -> list:
    # the line ends open() accepts (\n, \r\n, \r), so line numbers match what an editor shows
    return text.replace('\r\n', '\n').replace('\r', '\n').split('\n')


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


def to_class_indices(labels: np.ndarray, path: str, opt: argparse.Namespace, dontcare: int) -> np.ndarray:
    """Validate a label map and apply SPADE's convention ``dontcare`` (the dataset's value, see
    :mod:`data.conventions`) -> label_nc.

    Raises naming ``path``, the bad value and ``--label_nc`` when a value is out of range.
    Returns uint8 when the indices fit, int32 otherwise."""
    top = int(labels.max()) if labels.size else 0
    low = int(labels.min()) if labels.size else 0
    limit = label_channels(opt)
    if low < 0:
        raise DatasetError(f"{path}: negative label value {low}; labels must be class indices >= 0")
    if top < limit:
        return labels if labels.dtype == np.uint8 else labels.astype(np.int32)
    if opt.contain_dontcare_label and dontcare >= limit:
        mapped = labels.astype(np.int32)
        mapped[labels == dontcare] = opt.label_nc
        top = int(mapped.max())
        if top < limit:
            return mapped.astype(np.uint8) if limit <= 256 else mapped
    if top == dontcare and not opt.contain_dontcare_label:
        raise DatasetError(f"{path}: label value {dontcare} ('dontcare') found but --contain_dontcare_label is off; "
                           f"add --contain_dontcare_label, or raise --label_nc above {dontcare}")
    raise DatasetError(f"{path}: label value {top} is out of range for --label_nc {opt.label_nc}"
                       f"{' with dontcare' if opt.contain_dontcare_label else ''} (valid: 0..{limit - 1}"
                       f"{f', {dontcare}' if opt.contain_dontcare_label else ''}); set --label_nc to the number of "
                       f"classes")
