"""CelebA-HQ's official train/val/test split, and the fallback when its files are missing.

The release's ``CelebA-HQ-to-CelebA-mapping.txt`` names each face's CelebA file
(``idx orig_idx orig_file``); CelebA's ``list_eval_partition.txt`` (``000001.jpg 0``; 0 train,
1 val, 2 test) assigns the file to a split. Without the partition file CelebA's published
ranges are used: files 1-162770 train, 162771-182637 val, the rest test. (The release's
``g_partition.py`` compares the 0-based ``orig_idx`` with these numbers, one off; we follow
CelebA's own list.)
"""
import os

from data.validation import read_text_lines
from util.errors import DatasetError

MAPPING_FILE, PARTITION_FILE = 'CelebA-HQ-to-CelebA-mapping.txt', 'list_eval_partition.txt'
CELEBA_FIRST_VAL, CELEBA_FIRST_TEST = 162771, 182638   # CelebA file numbers starting val and test
_SPLIT_CODES = {'0': 'train', '1': 'val', '2': 'test'}


def official_split(root: str) -> dict:
    """id -> 'train' | 'val' | 'test' from the mapping file, or {} when it is absent."""
    mapping = os.path.join(root, MAPPING_FILE)
    if not os.path.isfile(mapping):
        return {}
    partition = _read_partition(os.path.join(root, PARTITION_FILE))
    splits = {}
    for number, line in read_text_lines(mapping):
        fields = line.split()
        if not fields or not is_id(fields[0]):
            continue  # the header line
        if len(fields) < 3:
            raise DatasetError(f"{mapping}: line {number} should read '<idx> <orig_idx> <orig_file>'")
        splits[int(fields[0])] = partition.get(fields[2]) or _celeba_range(fields[2], mapping, number)
    return splits


def _read_partition(path: str) -> dict:
    if not os.path.isfile(path):
        return {}
    partition = {}
    for number, line in read_text_lines(path):
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 2 or fields[1] not in _SPLIT_CODES:
            # an unknown code would silently put the face in the wrong split
            raise DatasetError(f"{path}: line {number} is '{line.strip()}', expected '<file> <0|1|2>' "
                               f"(0 train, 1 val, 2 test)")
        partition[fields[0]] = _SPLIT_CODES[fields[1]]
    return partition


def _celeba_range(orig_file: str, mapping: str, number: int) -> str:
    stem = os.path.splitext(orig_file)[0]
    if not is_id(stem):
        raise DatasetError(f"{mapping}: line {number}: '{orig_file}' is not a CelebA file name like 000123.jpg")
    n = int(stem)
    return 'train' if n < CELEBA_FIRST_VAL else 'val' if n < CELEBA_FIRST_TEST else 'test'


def is_id(text: str) -> bool:
    """``text`` is a number in ASCII digits (``str.isdigit`` also accepts '²', which int() refuses)."""
    return text.isascii() and text.isdigit()


def face_split(splits: dict, face_id: int) -> str:
    """The face's split from :func:`official_split`, else by id: 8 -> val, 9 -> test, else train (mod 10)."""
    return splits.get(face_id) or {8: 'val', 9: 'test'}.get(face_id % 10, 'train')
