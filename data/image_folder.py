"""Listing image files in a folder (SPADE's ``make_dataset``), with the optional file-list cache.

File names are whatever bytes the file system holds: names that are not UTF-8 come back
surrogate-escaped (as ``os.listdir`` gives them) and go through the cache unchanged.
"""
import os
import re
import warnings
from typing import Callable

from data.validation import require_dir
from util.errors import DatasetError
from util.fileio import atomic_open

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.tif', '.tiff', '.webp')
CACHE_NAME = 'files.list'


def is_image_file(filename: str) -> bool:
    return filename.lower().endswith(IMG_EXTENSIONS)


def natural_key(path: str) -> list:
    """Sort key that orders 'img2' before 'img10'."""
    # isdecimal, not isdigit: int() refuses digits such as '²' that isdigit accepts
    return [int(part) if part.isdecimal() else part.lower() for part in re.split(r'(\d+)', path)]


def list_folder(folder: str) -> list:
    """The entry names of ``folder``; an unreadable folder fails naming it."""
    try:
        return os.listdir(folder)
    except OSError as exc:
        raise _unlistable(exc, folder)


def make_dataset(folder: str, recursive: bool = False, read_cache: bool = False,
                 write_cache: bool = False, option: str = '--dataroot') -> list:
    """Image files in ``folder`` (and its subfolders when ``recursive``), naturally sorted.

    With ``read_cache`` a ``files.list`` in the folder (written by ``write_cache``, one path
    per line relative to the folder) replaces the listing; ``option`` is named when the
    folder is missing."""
    require_dir(folder, option)
    if read_cache:
        cached = _read_cache(folder)
        if cached is not None:
            return cached
    paths = _walk(folder) if recursive else _list(folder)
    paths.sort(key=natural_key)
    if write_cache:
        _write_cache(folder, paths)
    return paths


def _list(folder: str) -> list:
    return [os.path.join(folder, name) for name in list_folder(folder)
            if is_image_file(name) and os.path.isfile(os.path.join(folder, name))]


def _walk(folder: str) -> list:
    return walk_files(folder, is_image_file)


def walk_files(folder: str, keep: Callable[[str], bool] = lambda name: True) -> list:
    """Paths of the files under ``folder`` whose name ``keep`` accepts. Follows symbolic links,
    but enters each real folder once: a link back to a folder already listed (a loop) would
    otherwise make the walk endless."""
    paths, listed = [], {os.path.realpath(folder): folder}
    for root, dirs, names in os.walk(folder, followlinks=True, onerror=_walk_error):
        dirs[:] = _new_folders(root, dirs, listed)
        paths.extend(os.path.join(root, name) for name in names if keep(name))
    return paths


def _new_folders(root: str, dirs: list, listed: dict) -> list:
    """The subfolders of ``root`` to enter, sorted; each real folder is claimed by its first path
    (plain folders before links, so the real path wins over a link beside it)."""
    keep = []
    for name in sorted(dirs, key=lambda d: (os.path.islink(os.path.join(root, d)), d)):
        path = os.path.join(root, name)
        real = os.path.realpath(path)
        if real in listed:
            warnings.warn(f"{path}: skipped; it leads to {real}, already listed as {listed[real]} (a symbolic "
                          f"link back into the dataset or a second link to one folder)")
            continue
        listed[real] = path
        keep.append(name)
    return sorted(keep)


def _unlistable(exc: OSError, folder: str = '') -> DatasetError:
    folder = folder or exc.filename
    return DatasetError(f"{folder}: cannot list this folder ({exc.strerror or exc}); check its permissions")


def _walk_error(exc: OSError) -> None:
    # os.walk would skip an unreadable subfolder silently, and its files with it
    raise _unlistable(exc)


def _read_cache(folder: str):
    cache = os.path.join(folder, CACHE_NAME)
    if not os.path.isfile(cache):
        return None
    try:
        # the cache holds file names, i.e. bytes: names that are not UTF-8 come back as written
        with open(cache, encoding='utf-8', errors='surrogateescape') as handle:
            names = [line.strip() for line in handle if line.strip()]
    except OSError as exc:
        warnings.warn(f"{cache}: cannot read the file-list cache ({exc.strerror}); listing the folder instead")
        return None
    paths = [os.path.join(folder, name) for name in names]
    # a cache left from another copy of the data would send every worker to missing files;
    # checking both ends catches that without statting every file
    if not paths or not (os.path.isfile(paths[0]) and os.path.isfile(paths[-1])):
        warnings.warn(f"{cache}: stale file-list cache (lists files that are not there); "
                      f"listing the folder instead. Delete it or rewrite it with --cache_filelist_write")
        return None
    return paths


def _write_cache(folder: str, paths: list) -> None:
    cache = os.path.join(folder, CACHE_NAME)
    names = [os.path.relpath(p, folder) for p in paths]
    unfit = next((n for n in names if n != n.strip() or '\n' in n or '\r' in n), None)
    if unfit is not None:  # one name per stripped line cannot hold it; the list would be wrong
        warnings.warn(f"{cache}: not written, the file name {unfit!r} has a line break or surrounding spaces")
        return
    try:
        text = ''.join(name + '\n' for name in names)
        with atomic_open(cache, 'wb') as handle:  # never half a list under the final name
            handle.write(text.encode('utf-8', 'surrogateescape'))  # names that are not UTF-8 as their bytes
    except OSError as exc:  # a read-only dataset folder must not stop training
        warnings.warn(f"{cache}: could not write the file-list cache ({exc.strerror}); continuing without it")
