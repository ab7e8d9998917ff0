"""SPADE's preprocessing (``--preprocess_mode``): one random geometry per sample, applied
alike to the label (nearest), the instance map (nearest) and the photo (bicubic).

By default every mode is exactly SPADE's ``get_params``/``get_transform``, so a SPADE command
line gives SPADE's images. ``--preprocess_fix`` corrects three SPADE defects instead:
- crops are ``crop_size`` x ``crop_size/aspect_ratio`` and ``resize_and_crop`` resizes to
  ``load_size`` x ``load_size/aspect_ratio`` (SPADE resizes and crops squares whatever the
  aspect ratio, which the generator cannot use); with aspect ratio 1 nothing changes;
- ``scale_shortside`` scales the short side to ``load_size`` (SPADE keeps the short side and
  stretches the long one);
- a crop larger than the scaled image is an error naming the file (SPADE pads with black,
  i.e. with label 0, which we do by default with a warning).
Either way ``none`` rounds sizes to multiples of 32 but never below 32 (SPADE crashes at 0).
A label smaller than its photo (CelebAMask-HQ: 512 masks, 1024 photos) follows the photo's
geometry: it is scaled to the photo's size first whenever no resize step does it anyway.
"""
import argparse
import random
import warnings
from dataclasses import dataclass, replace
from typing import Optional

import numpy as np
import torch
from PIL import Image

from util.errors import DatasetError

POWER_BASE = 32
_PIL_DTYPES = (np.dtype(np.uint8), np.dtype(np.int32), np.dtype(np.float32))  # PIL modes L, I, F


@dataclass(frozen=True)
class Geometry:
    source: tuple                    # (w, h) the plan was made for
    resize: Optional[tuple] = None   # (w, h) to scale to first
    crop: Optional[tuple] = None     # (x, y, w, h) in the scaled image
    final: Optional[tuple] = None    # (w, h) to scale to after cropping
    flip: bool = False               # mirror left-right, last

    @property
    def output_size(self) -> tuple:
        if self.final:
            return self.final
        if self.crop:
            return self.crop[2:]
        return self.resize or self.source

    def unflipped(self) -> 'Geometry':
        """The same output with the mirroring moved to the source: for maps drawn from
        coordinates (poses), which are mirrored before drawing instead of after."""
        if not self.flip or not self.crop:
            return replace(self, flip=False)
        x, y, w, h = self.crop
        scaled_w = (self.resize or self.source)[0]
        return replace(self, flip=False, crop=(scaled_w - w - x, y, w, h))


def plan_geometry(opt: argparse.Namespace, size: tuple, path: str) -> Geometry:
    """Random geometry for a sample whose photo (or label) is ``size`` = (w, h).

    Uses python's ``random``, which the DataLoader's workers seed from torch's seed."""
    mode, fix = opt.preprocess_mode, opt.preprocess_fix
    crop_w = opt.crop_size
    crop_h = max(1, round(opt.crop_size / opt.aspect_ratio)) if fix else opt.crop_size
    resize = _scaled_size(opt, mode, size, fix)
    crop = None
    if 'crop' in mode:
        scaled_w, scaled_h = resize or size
        if scaled_w < crop_w or scaled_h < crop_h:
            _too_small_for_crop(f"{path}: {scaled_w}x{scaled_h} after --preprocess_mode {mode} is smaller than "
                                f"the {crop_w}x{crop_h} crop", fix)
        crop = (random.randint(0, max(0, scaled_w - crop_w)), random.randint(0, max(0, scaled_h - crop_h)),
                crop_w, crop_h)
    final = None
    if mode == 'fixed':
        final = (opt.crop_size, max(1, round(opt.crop_size / opt.aspect_ratio)))
    elif mode == 'none':
        final = tuple(max(POWER_BASE, int(round(s / POWER_BASE)) * POWER_BASE) for s in size)
    flip = bool(opt.isTrain and not opt.no_flip and random.random() > 0.5)
    return Geometry(source=tuple(size), resize=resize, crop=crop, final=final, flip=flip)


_warned_padding = False


def _too_small_for_crop(message: str, fix: bool) -> None:
    global _warned_padding
    if fix:
        raise DatasetError(message + '; lower --crop_size or raise --load_size')
    if not _warned_padding:  # SPADE pads silently; say it once
        warnings.warn(message + ': padded with black (label 0) as SPADE does; --preprocess_fix makes this an error')
        _warned_padding = True


def _scaled_size(opt: argparse.Namespace, mode: str, size: tuple, fix: bool) -> Optional[tuple]:
    w, h = size
    load = opt.load_size
    if mode == 'resize_and_crop':
        return (load, max(1, round(load / opt.aspect_ratio)) if fix else load)
    if mode.startswith('scale_width'):
        return None if w == load else (load, max(1, load * h // w))
    if mode.startswith('scale_shortside'):
        short, long = min(w, h), max(w, h)
        if short == load:
            return None
        long = max(1, load * long // short)
        short = load if fix else short  # SPADE scales only the long side
        return (short, long) if w <= h else (long, short)
    return None


def apply_geometry(image: Image.Image, geometry: Geometry, resample: int) -> Image.Image:
    if geometry.resize:
        if image.size != geometry.resize:
            image = image.resize(geometry.resize, resample)
    elif image.size != geometry.source:
        image = image.resize(geometry.source, resample)
    if geometry.crop:
        x, y, w, h = geometry.crop
        image = image.crop((x, y, x + w, y + h))
    if geometry.final and image.size != geometry.final:
        image = image.resize(geometry.final, resample)
    if geometry.flip:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return image


def apply_to_array(array: np.ndarray, geometry: Geometry, resample: int = Image.Resampling.NEAREST) -> np.ndarray:
    """The geometry applied to a 2-D uint8, int32 or float32 map (nearest unless told)."""
    if array.dtype not in _PIL_DTYPES:
        array = array.astype(np.int32)
    return np.array(apply_geometry(Image.fromarray(np.ascontiguousarray(array)), geometry, resample))


def image_tensor(image: Image.Image) -> torch.Tensor:
    """RGB PIL image -> float (3,H,W) in [-1,1], as SPADE's ToTensor + Normalize(0.5, 0.5)."""
    # in numpy: torch's elementwise ops on small images cost more in thread start-up than work
    array = np.asarray(image, dtype=np.float32).transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(array) / np.float32(127.5) - np.float32(1.0))  # 255 -> 1 exactly


def index_tensor(array: np.ndarray, dtype: type) -> torch.Tensor:
    """(H,W) integer map -> (1,H,W) tensor of numpy ``dtype`` (np.int64 or np.int32)."""
    return torch.from_numpy(np.array(array, dtype=dtype)[None])


def check_aligned(label_size: tuple, image_size: tuple, label_path: str, image_path: str) -> None:
    """A label may be a scaled copy of its photo, but must have the photo's shape."""
    (lw, lh), (iw, ih) = label_size, image_size
    if abs(lw * ih - iw * lh) > 0.02 * max(lw * ih, iw * lh):
        raise DatasetError(f"{label_path}: label is {lw}x{lh} but its image {image_path} is {iw}x{ih}; "
                           f"they do not look like a pair")
