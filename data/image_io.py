"""Reading photos, label maps, instance maps and binary masks; unreadable files fail with one line.

Label maps must hold one class index per pixel (grayscale, palette or 16-bit PNG). A colour
image is refused, unless its three channels are equal (a grayscale map saved as RGB).
"""
import numpy as np
from PIL import Image

from util.errors import DatasetError

# Pillow raises these for unreadable, truncated or absurdly large images
_READ_ERRORS = (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError)
_INDEX_MODES = ('L', 'P', 'I', 'I;16', 'I;16L', 'I;16B', 'I;16N', '1')


def open_image(path: str) -> Image.Image:
    """The fully decoded image at ``path`` (decoding now, so truncation shows here)."""
    try:
        image = Image.open(path)
        image.load()  # Pillow closes the file after loading a single-frame image
        return image
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found (listed by the dataset but missing on disk)")
    except _READ_ERRORS as exc:
        raise DatasetError(f"{path}: cannot read image ({_one_line(exc)}); the file is corrupt or truncated")


def load_rgb(path: str) -> Image.Image:
    return open_image(path).convert('RGB')


def load_index_map(path: str, what: str = 'label') -> np.ndarray:
    """A 2-D integer array of the values stored in a label or instance map.

    16-bit PNGs (Cityscapes' instance ids such as 26001 or 33001) come back as int32,
    never as a wrapped-around int16."""
    image = open_image(path)
    if image.mode in _INDEX_MODES:
        array = np.array(image)
        if array.dtype == bool:
            return array.astype(np.uint8)
        return array if array.dtype == np.uint8 else array.astype(np.int32)
    if image.mode in ('RGB', 'RGBA', 'LA'):
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


def load_mask(path: str) -> np.ndarray:
    """A binary part mask (any non-black pixel is inside) as a bool array."""
    image = open_image(path)
    if image.mode in ('RGB', 'RGBA'):
        return np.array(image)[..., :3].max(axis=2) > 0
    if image.mode == 'P':
        image = image.convert('L')
    return np.array(image) > 0


def _one_line(exc: BaseException) -> str:
    return ' '.join(str(exc).split()) or type(exc).__name__
