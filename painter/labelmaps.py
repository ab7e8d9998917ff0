"""Label maps between the page and the generator: exact class indices, never colours.

The page keeps its map as an array of indices and sends it as raw bytes (one byte per pixel,
two little-endian bytes when the run has more than 256 classes). Uploaded files go through the
data loader's own reader (:func:`data.image_io.load_index_map` and
:func:`data.validation.to_class_indices`), so the painter accepts and refuses what test.py
would, and a map of another size is resized with nearest-neighbour, which invents no class.
Downloaded maps are palette PNGs: the pixels are the indices (what test.py reads), the
palette only makes them viewable.
"""
import argparse
import io
import os
import tempfile
from typing import Optional

import numpy as np
from PIL import Image

from data import dataset_labels
from data.image_io import load_index_map, load_rgb
from data.validation import to_class_indices
from painter.params import RequestError
from util.errors import UserError


def dtype_for(num_classes: int) -> str:
    """The wire format of a map with ``num_classes`` indices: 'u8' or 'u16'."""
    return 'u8' if num_classes <= 256 else 'u16'


def decode_indices(body: bytes, width: int, height: int, dtype: str, num_classes: int) -> np.ndarray:
    """(H, W) class indices from the page's raw bytes; refuses a wrong size or an unknown class."""
    if dtype not in ('u8', 'u16'):
        raise RequestError(f"unknown label map format '{dtype}' (expected u8 or u16)")
    itemsize = 1 if dtype == 'u8' else 2
    if len(body) != width * height * itemsize:
        raise RequestError(f'the label map has {len(body)} bytes, but {width}x{height} {dtype} needs '
                           f'{width * height * itemsize}')
    labels = np.frombuffer(body, dtype=np.uint8 if dtype == 'u8' else '<u2').reshape(height, width)
    check_range(labels, num_classes)
    return labels.astype(np.uint8 if num_classes <= 256 else np.int32)


def check_range(labels: np.ndarray, num_classes: int) -> None:
    top = int(labels.max()) if labels.size else 0
    if top >= num_classes:
        raise RequestError(f"label value {top} is beyond this run's classes (0..{num_classes - 1})")


def encode_indices(labels: np.ndarray, num_classes: int) -> bytes:
    """The page's raw format of ``labels`` (see :func:`dtype_for`)."""
    return np.ascontiguousarray(labels, dtype=np.uint8 if num_classes <= 256 else '<u2').tobytes()


def index_png(labels: np.ndarray, colors: np.ndarray) -> bytes:
    """A PNG whose pixel values are the class indices: palette (8-bit) with the classes' colours
    for up to 256 classes, 16-bit grayscale beyond."""
    buffer = io.BytesIO()
    if len(colors) <= 256:
        image = Image.fromarray(np.ascontiguousarray(labels, dtype=np.uint8), mode='L').convert('P')
        palette = np.zeros((256, 3), np.uint8)
        palette[:len(colors)] = colors
        image.putpalette(palette.reshape(-1).tolist())
    else:
        image = Image.fromarray(np.ascontiguousarray(labels, dtype=np.uint16))
    image.save(buffer, format='PNG')
    return buffer.getvalue()


def image_png(array: np.ndarray) -> bytes:
    """An (H, W, 3) uint8 image as PNG bytes, as test.py writes it (Pillow's defaults)."""
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format='PNG')
    return buffer.getvalue()


def _through_file(data: bytes, filename: str, reader):
    """Runs a path-based reader of the data loader on uploaded bytes; its messages name the
    uploaded file, not the temporary copy."""
    if not data:
        raise RequestError(f'{filename}: the file is empty')
    suffix = os.path.splitext(filename)[1].lower()[:10]
    handle, path = tempfile.mkstemp(prefix='painter-upload-', suffix=suffix)
    try:
        with os.fdopen(handle, 'wb') as out:
            out.write(data)
        return reader(path)
    except UserError as exc:
        raise RequestError(str(exc).replace(path, filename)) from None
    finally:
        os.unlink(path)


def read_label_upload(data: bytes, filename: str, opt: argparse.Namespace, size: tuple,
                      num_classes: int) -> tuple[np.ndarray, Optional[str]]:
    """An uploaded label map as the run's (H, W) class indices, and a note when it was resized.

    Refused, with the reason: an unreadable or lossy (JPEG) file, a colour image (its channels
    differ: a rendering of classes, not the indices), values beyond the run's classes."""
    value = dataset_labels(opt).dontcare

    def read(path: str) -> np.ndarray:
        raw = load_index_map(path)
        dontcare = opt.contain_dontcare_label and value >= num_classes  # it becomes index label_nc
        beyond = raw[(raw >= num_classes) & ~((raw == value) & dontcare)]
        if beyond.size:
            raise RequestError(f"{filename}: label value {int(beyond.max())} is beyond this run's classes "
                               f"(0..{num_classes - 1}{f', or {value} for dontcare' if dontcare else ''}); "
                               f"is it a label map of another dataset?")
        return to_class_indices(raw, path, opt, value)
    labels = _through_file(data, filename, read)
    width, height = size
    note = None
    if labels.shape != (height, width):
        note = (f'{filename} is {labels.shape[1]}x{labels.shape[0]}; resized to {width}x{height} with nearest '
                f'neighbour (no class is invented)')
        labels = resize_nearest(labels, size)
    return labels.astype(np.uint8 if num_classes <= 256 else np.int32), note


def resize_nearest(labels: np.ndarray, size: tuple) -> np.ndarray:
    """``labels`` resized to ``size`` = (w, h) with nearest neighbour, as the data loader does."""
    from data.geometry import Geometry, apply_to_array
    return apply_to_array(labels, Geometry(source=(labels.shape[1], labels.shape[0]), resize=tuple(size)))


def read_photo_upload(data: bytes, filename: str, size: tuple) -> Image.Image:
    """An uploaded style photo as 8-bit RGB, resized (bicubic) to ``size`` as the data loader
    resizes an ``--image_dir`` photo with ``--preprocess_mode fixed``."""
    photo = _through_file(data, filename, load_rgb)
    if photo.size != tuple(size):
        photo = photo.resize(tuple(size), Image.Resampling.BICUBIC)
    return photo
