"""Tensor <-> image conversions and label colourisation, matching SPADE's output bytes."""
import os
from functools import lru_cache

import numpy as np
import torch
from PIL import Image

from util.fileio import atomic_open

CITYSCAPES_COLORS = [
    (0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0), (111, 74, 0), (81, 0, 81), (128, 64, 128),
    (244, 35, 232), (250, 170, 160), (230, 150, 140), (70, 70, 70), (102, 102, 156), (190, 153, 153),
    (180, 165, 180), (150, 100, 100), (150, 120, 90), (153, 153, 153), (153, 153, 153), (250, 170, 30),
    (220, 220, 0), (107, 142, 35), (152, 251, 152), (70, 130, 180), (220, 20, 60), (255, 0, 0), (0, 0, 142),
    (0, 0, 70), (0, 60, 100), (0, 0, 90), (0, 0, 110), (0, 80, 100), (0, 0, 230), (119, 11, 32), (0, 0, 142),
]


def tensor2im(image: torch.Tensor) -> np.ndarray:
    """(3,H,W) or (B,3,H,W) in [-1,1] -> uint8 (H,W,3) or (B,H,W,3).

    Truncates like SPADE's ``tensor2im`` (not rounding), so our PNGs are byte-identical to
    SPADE's for the same generator output."""
    array = image.detach().float().cpu().numpy()
    array = np.moveaxis(array, -3, -1)
    array = np.clip((array + 1) / 2.0 * 255.0, 0, 255)
    if array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    return array.astype(np.uint8)


@lru_cache(maxsize=8)
def labelcolormap(n: int) -> np.ndarray:
    """SPADE's label colours: Cityscapes' palette for 35 classes, otherwise the PASCAL-style
    bit-interleaved palette (index 0 included)."""
    if n == 35:
        return np.array(CITYSCAPES_COLORS, dtype=np.uint8)
    cmap = np.zeros((n, 3), dtype=np.uint8)
    for i in range(n):
        r = g = b = 0
        code = i + 1  # so that 0 gets a colour too
        for j in range(7):
            r |= ((code >> 0) & 1) << (7 - j)
            g |= ((code >> 1) & 1) << (7 - j)
            b |= ((code >> 2) & 1) << (7 - j)
            code >>= 3
        cmap[i] = (r, g, b)
    return cmap


def tensor2label(label: torch.Tensor, n_label: int) -> np.ndarray:
    """Class map (1,H,W) or one-hot/dense (C,H,W) -> uint8 (H,W,3) colour image.

    Indices beyond the palette (e.g. dontcare) stay black, as in SPADE."""
    label = label.detach().cpu()
    if label.dim() == 3 and label.size(0) > 1:
        label = label.float().argmax(0, keepdim=True)
    index = label.reshape(label.shape[-2:]).long().numpy()
    cmap = labelcolormap(n_label)
    out = np.zeros(index.shape + (3,), dtype=np.uint8)
    valid = (index >= 0) & (index < len(cmap))
    out[valid] = cmap[index[valid]]
    return out


def dense2im(label: torch.Tensor) -> np.ndarray:
    """A dense conditioning map (C,H,W) shown through its first three channels (e.g. the
    rendered pose skeleton of DeepFashion)."""
    return tensor2im(label[:3] * 2 - 1)


def save_image(array: np.ndarray, path: str) -> None:
    """Writes ``array`` as an image file (format from the extension) through a temporary file and
    a rename, so that a failed write (full disk, Ctrl-C) keeps the previous file and leaves no
    truncated one. No fsync: results can be regenerated, and a sync per image is slow."""
    image_format = Image.registered_extensions().get(os.path.splitext(path)[1].lower())
    if image_format is None:
        raise ValueError(f'{path}: unknown image file extension')
    with atomic_open(path, 'wb', durable=False) as handle:
        Image.fromarray(array).save(handle, format=image_format)
