"""Image and label files for evaluation: listing, pairing by file stem, reading, resizing, and
the conversions between the tensor conventions the metrics use.

Conventions: generated images are float (B,3,H,W) in [-1,1]; every metric first quantises them
to uint8 exactly as :func:`util.util.tensor2im` does when it saves a PNG (clip, then truncate),
so evaluating in memory during training and evaluating the saved files give the same bytes.
"""
import os
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import torch
from PIL import Image

from util.errors import DatasetError

# the extensions pytorch-fid reads, so that a folder means the same set of images to both tools
IMAGE_EXTENSIONS = ('.bmp', '.jpg', '.jpeg', '.pgm', '.png', '.ppm', '.tif', '.tiff', '.webp')
# what Pillow raises for unreadable, corrupt, truncated or absurdly large files (a broken PNG
# header is a SyntaxError, a cut-off GIF an EOFError)
READ_ERRORS = (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError)


def printable(path: str) -> str:
    """``path`` as text that any terminal and JSON file accept: bytes of a file name that are
    not UTF-8 (which Python keeps as lone surrogates) are shown as ``\\xe9``."""
    try:
        return os.fsencode(path).decode('utf-8', 'backslashreplace')
    except UnicodeError:  # surrogates that are not escaped bytes
        return path.encode('utf-8', 'backslashreplace').decode('utf-8')


def one_line(exc: BaseException) -> str:
    """An exception's message on one printable line (Pillow's messages repeat the file name)."""
    return printable(' '.join(str(exc).split()) or type(exc).__name__)


@dataclass(frozen=True)
class Sample:
    """One evaluation sample: a generated image, its real counterpart, and its label map."""
    stem: str
    fake: str
    real: Optional[str]
    label: Optional[str]


def list_images(folder: str, what: str) -> dict[str, str]:
    """Image files of ``folder`` (not recursive) by file stem; ``what`` names the option."""
    shown = printable(folder)
    if not os.path.isdir(folder):
        why = 'is a file' if os.path.exists(folder) else 'does not exist'
        raise DatasetError(f"{what} '{shown}' {why}: give the folder of the images")
    try:
        names = sorted(os.listdir(folder))
    except OSError as exc:
        raise DatasetError(f"{what} '{shown}' cannot be listed ({exc.strerror or one_line(exc)}); check its "
                           f"permissions") from None
    by_stem: dict[str, str] = {}
    for name in names:
        stem, ext = os.path.splitext(name)
        if ext.lower() not in IMAGE_EXTENSIONS or not os.path.isfile(os.path.join(folder, name)):
            continue
        if stem in by_stem:
            raise DatasetError(f"{what} '{shown}' has two images named '{printable(stem)}' "
                               f"({printable(os.path.basename(by_stem[stem]))} and {printable(name)}); keep one")
        by_stem[stem] = os.path.join(folder, name)
    if not by_stem:
        raise DatasetError(f"{what} '{shown}' contains no images ({', '.join(IMAGE_EXTENSIONS)}); give the folder "
                           f"that holds them")
    return by_stem


def pair_by_stem(fakes: dict[str, str], reals: Optional[dict[str, str]] = None,
                 labels: Optional[dict[str, str]] = None) -> tuple[list[Sample], dict[str, int]]:
    """Samples in stem order, one per generated image.

    Every generated image needs a real image (and a label map when ``labels`` is given): a
    missing partner is an error. Reals and labels without a generated image are left out (a
    test run may generate a subset); their counts are returned so callers can say so."""
    for others, what in ((reals, '--real_dir'), (labels, '--label_dir')):
        if others is None:
            continue
        missing = [stem for stem in fakes if stem not in others]
        if missing:
            shown = ', '.join(map(printable, missing[:5])) + (', ...' if len(missing) > 5 else '')
            raise DatasetError(f"{len(missing)} generated image(s) have no file of the same name in "
                               f"{what}: {shown}; name each file like its generated image (the extension "
                               f"may differ)")
    unused = {what: sum(stem not in fakes for stem in others)
              for others, what in ((reals, 'real'), (labels, 'label')) if others is not None}
    samples = [Sample(stem, path, reals[stem] if reals else None, labels[stem] if labels else None)
               for stem, path in fakes.items()]
    return samples, unused


def read_rgb(path: str) -> np.ndarray:
    """uint8 (H,W,3); any readable image is converted to RGB, as pytorch-fid does."""
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert('RGB'), dtype=np.uint8)
    except READ_ERRORS as exc:
        raise DatasetError(f"cannot read image '{printable(path)}': {one_line(exc)}; replace or remove the "
                           f"file") from None


def read_label(path: str) -> np.ndarray:
    """A label map's raw values as int64 (H,W); colour-coded (RGB) label images are refused."""
    try:
        with Image.open(path) as image:
            if image.mode not in ('L', 'P', 'I', 'I;16', 'I;16B', 'I;16L'):
                raise DatasetError(f"label map '{printable(path)}' has image mode {image.mode}: expected one "
                                   f"channel of class indices (a colour visualisation cannot be evaluated)")
            return np.asarray(image, dtype=np.int64)
    except READ_ERRORS as exc:
        raise DatasetError(f"cannot read label map '{printable(path)}': {one_line(exc)}; replace or remove the "
                           f"file") from None


def resize_rgb(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 (H,W,3) to ``size`` = (height, width) with bicubic filtering (PIL, antialiased)."""
    if image.shape[:2] == tuple(size):
        return image
    resized = Image.fromarray(image).resize((size[1], size[0]), Image.BICUBIC)
    return np.asarray(resized, dtype=np.uint8)


def resize_label(label: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of a (H,W) label map: every output pixel takes the label at
    its centre's position, so no class values are invented."""
    height, width = label.shape
    if (height, width) == tuple(size):
        return label
    rows = np.minimum(((np.arange(size[0]) + 0.5) * height / size[0]).astype(np.int64), height - 1)
    cols = np.minimum(((np.arange(size[1]) + 0.5) * width / size[1]).astype(np.int64), width - 1)
    return label[rows[:, None], cols[None, :]]


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """(B,3,H,W) images as uint8 on the same device.

    uint8 input is returned as is; float input is read as [-1,1] and converted with the bytes
    :func:`util.util.tensor2im` would save (clip to [0,255], then truncate)."""
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"expected (B,3,H,W) images, got shape {tuple(images.shape)}")
    if images.dtype == torch.uint8:
        return images
    if not images.is_floating_point():
        raise ValueError(f"expected uint8 or float images in [-1,1], got {images.dtype}")
    scaled = ((images.detach().float() + 1) / 2.0 * 255.0).clamp(0, 255)
    return scaled.to(torch.uint8)  # truncates toward zero, like numpy's astype


def uint8_to_signed(images: torch.Tensor) -> torch.Tensor:
    """uint8 (B,3,H,W) to float in [-1,1], the generator's convention."""
    return images.float() / 127.5 - 1.0


def stack_rgb(images: Sequence[np.ndarray]) -> torch.Tensor:
    """Equal-sized uint8 (H,W,3) arrays as one uint8 (B,3,H,W) tensor."""
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
