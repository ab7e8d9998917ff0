"""Listing image files in a folder (SPADE's ``make_dataset``), with the optional file-list cache."""
import os
import re
import warnings

from data.validation import require_dir

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.tif', '.tiff', '.webp')
CACHE_NAME = 'files.list'


def is_image_file(filename: str) -> bool:
    return filename.lower().endswith(IMG_EXTENSIONS)


def natural_key(path: str) -> list:
    """Sort key that orders 'img2' before 'img10'."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r'(\d+)', path)]


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
    return [os.path.join(folder, name) for name in os.listdir(folder)
            if is_image_file(name) and os.path.isfile(os.path.join(folder, name))]


def _walk(folder: str) -> list:
    paths = []
    for root, dirs, names in os.walk(folder, followlinks=True):
        dirs.sort()
        paths.extend(os.path.join(root, name) for name in names if is_image_file(name))
    return paths


def _read_cache(folder: str):
    cache = os.path.join(folder, CACHE_NAME)
    if not os.path.isfile(cache):
        return None
    with open(cache) as handle:
        names = [line.strip() for line in handle if line.strip()]
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
    try:
        with open(cache, 'w') as handle:
            handle.writelines(os.path.relpath(p, folder) + '\n' for p in paths)
    except OSError as exc:  # a read-only dataset folder must not stop training
        warnings.warn(f"{cache}: could not write the file-list cache ({exc.strerror}); continuing without it")
