"""Reading photos, label maps, instance maps and binary masks; unreadable files fail with one line.

Photos become 8-bit RGB: 16-bit grayscale is scaled to 8 bits (Pillow's own conversion would
clip it to white) and alpha is dropped, as in SPADE. Label maps must hold one class index per
pixel (grayscale, palette or 16-bit PNG). A colour image is refused, unless its three channels
are equal (a grayscale map saved as RGB). Label, instance and mask files stored in a lossy
format (JPEG, lossy WebP) are refused: compression changes values along every edge.
"""
import os

import numpy as np
from PIL import Image

from util.errors import DatasetError

# Pillow raises these for unreadable, truncated or absurdly large images
_READ_ERRORS = (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError)
_WIDE_GREY = ('I', 'I;16', 'I;16L', 'I;16B', 'I;16N')  # 16-bit (or 32-bit integer) grayscale
_INDEX_MODES = ('L', 'P', '1') + _WIDE_GREY


def open_image(path: str) -> Image.Image:
    """The fully decoded image at ``path`` (decoding now, so truncation shows here)."""
    try:
        image = Image.open(path)
        image.load()  # Pillow closes the file after loading a single-frame image
        return image
    except _READ_ERRORS as exc:
        raise DatasetError(f"{path}: {_read_problem(path, exc)}")


def _read_problem(path: str, exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError):
        return "file not found (listed by the dataset but missing on disk)"
    if isinstance(exc, IsADirectoryError):
        return "is a folder, not an image file"
    if isinstance(exc, PermissionError):
        return "permission denied; make the file readable"
    if isinstance(exc, Image.DecompressionBombError):
        return f"image too large to decode safely ({_one_line(exc)}); downscale it"
    if _is_empty(path):
        return "empty file (0 bytes); copy it again from the original data"
    return f"cannot read image ({_one_line(exc)}); the file is corrupt or truncated"


def _is_empty(path: str) -> bool:
    try:
        return os.path.getsize(path) == 0
    except OSError:
        return False


def load_rgb(path: str) -> Image.Image:
    """An 8-bit RGB photo."""
    image = open_image(path)
    if image.mode in _WIDE_GREY:
        image = _grey_to_8bit(image, path)
    elif image.mode == 'F':
        raise DatasetError(f"{path}: 32-bit floating-point photo, whose range of values is unknown; "
                           f"save it as an 8- or 16-bit image")
    try:
        return image.convert('RGB')
    except ValueError as exc:
        raise DatasetError(f"{path}: cannot convert a photo of mode '{image.mode}' to RGB ({_one_line(exc)}); "
                           f"save it as an 8-bit RGB image")


def _grey_to_8bit(image: Image.Image, path: str) -> Image.Image:
    values = np.asarray(image, dtype=np.int64)
    if values.size and (values.min() < 0 or values.max() > 65535):
        raise DatasetError(f"{path}: 32-bit integer photo with values outside 0..65535; "
                           f"save it as an 8- or 16-bit image")
    # round(v * 255 / 65535) == round(v / 257): 65535 -> 255 and mid-grey stays mid-grey
    return Image.fromarray(((values + 128) // 257).astype(np.uint8))


def load_index_map(path: str, what: str = 'label') -> np.ndarray:
    """A 2-D integer array of the values stored in a label or instance map.

    16-bit PNGs (Cityscapes' instance ids such as 26001 or 33001) come back as int32,
    never as a wrapped-around int16."""
    image = open_image(path)
    _require_lossless(image, path, f'{what} map')
    if image.mode in _INDEX_MODES:
        array = np.array(image)
        if array.dtype == bool:
            return array.astype(np.uint8)
        return array if array.dtype == np.uint8 else array.astype(np.int32)
    if image.mode in ('RGB', 'RGBA', 'LA'):
        _refuse_16bit_colour(image, path, what)
        return _gray_from_colour(np.array(image), path, what)
    raise DatasetError(f"{path}: unsupported {what} image mode '{image.mode}'; expected an 8- or 16-bit "
                       f"grayscale or palette PNG of class indices")


def _gray_from_colour(array: np.ndarray, path: str, what: str) -> np.ndarray:
    if array.shape[2] == 2:  # 'LA': gray + alpha
        return array[..., 0]
    rgb = array[..., :3]
    if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2]):
        return rgb[..., 0].copy()
    raise DatasetError(f"{path}: colour (RGB) {what} map where class indices are expected; save one class "
                       f"index per pixel as a grayscale or palette PNG (e.g. Cityscapes' *_labelIds.png, "
                       f"not *_color.png)")


def _refuse_16bit_colour(image: Image.Image, path: str, what: str) -> None:
    # Pillow reads a 16-bit colour PNG as 8 bits per channel, keeping only the high byte,
    # so small class indices would all read as 0
    if image.format == 'PNG' and _file_head(path, 26)[24:25] == b'\x10':  # IHDR's bit depth
        raise DatasetError(f"{path}: 16-bit colour PNG {what} map; Pillow keeps only 8 of its 16 bits, which "
                           f"loses the class indices. Save it as a grayscale (8- or 16-bit) or palette PNG")


def _file_head(path: str, size: int) -> bytes:
    try:
        with open(path, 'rb') as handle:
            return handle.read(size)
    except OSError:  # it was just decoded; a file vanishing since then is not worth a second message
        return b''


def load_mask(path: str) -> np.ndarray:
    """A binary part mask (any non-black pixel is inside) as a bool array."""
    image = open_image(path)
    _require_lossless(image, path, 'mask')
    if image.mode in ('P', 'LA'):
        image = image.convert('L')  # alpha is not part of the mask
    elif image.mode not in _INDEX_MODES + ('F',):
        image = image.convert('RGB')
    array = np.array(image)
    return (array.max(axis=2) if array.ndim == 3 else array) > 0


def _require_lossless(image: Image.Image, path: str, what: str) -> None:
    lossy = _lossy_encoding(image, path)
    if lossy:
        raise DatasetError(f"{path}: {what} stored as {lossy}, a lossy format whose compression changes pixel "
                           f"values and so invents classes along edges; save it as PNG from the original data "
                           f"(converting this file keeps the damage)")


def _lossy_encoding(image: Image.Image, path: str) -> str:
    """The lossy encoding of the file ``image`` was read from, or '' when it is lossless."""
    if image.format in ('JPEG', 'MPO'):
        return 'JPEG'
    if image.format == 'TIFF' and image.info.get('compression') in ('jpeg', 'tiff_jpeg'):
        return 'JPEG-compressed TIFF'
    if image.format == 'WEBP' and _webp_is_lossy(path):
        return 'lossy WebP'
    return ''


def _webp_is_lossy(path: str) -> bool:
    """True when the WebP's image data is a 'VP8 ' chunk (lossy), not 'VP8L' (lossless)."""
    try:
        with open(path, 'rb') as handle:
            handle.seek(12)  # 'RIFF' <size> 'WEBP'
            return _first_vp8_chunk(handle) == b'VP8 '
    except OSError:
        return False


def _first_vp8_chunk(handle) -> bytes:
    while True:
        header = handle.read(8)
        if len(header) < 8:
            return b''
        kind, size = header[:4], int.from_bytes(header[4:], 'little')
        if kind in (b'VP8 ', b'VP8L'):
            return kind
        # an animation frame's own chunks start after its 16-byte frame header
        handle.seek(16 if kind == b'ANMF' else size + (size & 1), os.SEEK_CUR)


def _one_line(exc: BaseException) -> str:
    return ' '.join(str(exc).split()) or type(exc).__name__
