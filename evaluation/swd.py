"""Sliced Wasserstein distance between image sets, with ProGAN's protocol (Karras et al. 2018)
as the CoCosNet / MoNCE papers report it for CelebA-HQ and DeepFashion.

Protocol, per set of N uint8 images of one size:
- a Laplacian pyramid (5-tap binomial filter, mirrored borders) with one level per resolution
  from the image height down to 16 px, halving each time (256 -> 256,128,64,32,16); the
  coarsest level is the blurred image itself;
- 128 random 7x7 RGB patches per image and level, centres drawn uniformly where the patch fits;
- per level, every patch channel is normalised by the mean and standard deviation of that
  channel over all of the set's patches (each set with its own statistics);
- per level, 4 repeats of 128 random unit directions; the patches of both sets are projected,
  sorted, and the mean absolute difference of the sorted projections is the distance;
- reported x1e3 per level (``swd_levels``, keyed by level height) and their average (``swd``).

Randomness comes from ``seed`` alone: the real set's patches, the fake set's patches and the
directions use three independent streams, and patches are drawn image by image, so results
repeat exactly and do not depend on batch size. Both sets must have the same number of images.
"""
from dataclasses import dataclass, field
from typing import Union

import numpy as np
import torch
from scipy import ndimage

from evaluation.images import to_uint8

MIN_RESOLUTION = 16
PATCH_SIZE = 7
PATCHES_PER_IMAGE = 128
DIRECTION_REPEATS = 4
DIRECTIONS_PER_REPEAT = 128
SCALE = 1e3
# Pyramid levels are float32 values in 8-bit levels (0..255), held to about 2^-24 of 255:
# 2.5e-5 at most, measured against float64. A channel whose spread over the whole set is below
# a thousandth of a level (40 times that rounding) holds nothing but rounding and counts as
# constant: 8-bit images that differ at all differ by a whole level somewhere.
STD_FLOOR = 1e-3

_BINOMIAL = np.array([1, 4, 6, 4, 1], dtype=np.float32) / 16.0  # its outer product is cv2.pyrDown's kernel

REAL, FAKE, DIRECTIONS = 0, 1, 2  # the three random streams spawned from the seed


def level_heights(height: int, width: int) -> list[int]:
    """Heights of the pyramid levels: halving from ``height`` while the level is >= 16 px."""
    heights, h, w = [], height, width
    while min(h, w) >= MIN_RESOLUTION:
        heights.append(h)
        h, w = (h + 1) // 2, (w + 1) // 2
    return heights


def _blur(images: np.ndarray, taps: np.ndarray) -> np.ndarray:
    # the 5x5 binomial filter is separable; 'mirror' reflects without repeating the edge pixel
    out = ndimage.convolve1d(images, taps, axis=2, mode='mirror')
    return ndimage.convolve1d(out, taps, axis=3, mode='mirror')


def pyr_down(images: np.ndarray) -> np.ndarray:
    return _blur(images, _BINOMIAL)[:, :, ::2, ::2]


def pyr_up(images: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Zero-insertion upsampling then the binomial filter x4 (x2 per axis), cut to ``shape``."""
    n, c, h, w = images.shape
    up = np.zeros((n, c, 2 * h, 2 * w), dtype=images.dtype)
    up[:, :, ::2, ::2] = images
    return _blur(up, _BINOMIAL * 2)[:, :, :shape[0], :shape[1]]


def laplacian_pyramid(images: np.ndarray, num_levels: int) -> list[np.ndarray]:
    """float32 (N,3,H,W) -> ``num_levels`` arrays, finest first; the last is the low-pass rest."""
    gaussian = [images.astype(np.float32)]
    for _ in range(1, num_levels):
        gaussian.append(pyr_down(gaussian[-1]))
    laplacian = [fine - pyr_up(coarse, fine.shape[2:]) for fine, coarse in zip(gaussian, gaussian[1:])]
    return laplacian + [gaussian[-1]]


def sample_patches(level: np.ndarray, rng: np.random.Generator, count: int = PATCHES_PER_IMAGE) -> np.ndarray:
    """``count`` random (3,7,7) patches of one image's level (3,H,W) -> (count,3,7,7)."""
    half = PATCH_SIZE // 2
    _, height, width = level.shape
    xs = rng.integers(half, width - half, size=count)
    ys = rng.integers(half, height - half, size=count)
    offsets = np.arange(-half, half + 1)
    rows = (ys[:, None] + offsets)[:, :, None]  # (count,7,1)
    cols = (xs[:, None] + offsets)[:, None, :]  # (count,1,7)
    return level[:, rows, cols].transpose(1, 0, 2, 3)


def normalize_patches(patches: np.ndarray) -> np.ndarray:
    """(M,3,7,7) -> (M,147) with every channel at zero mean and unit deviation over the set; a
    channel that does not vary (spread below :data:`STD_FLOOR`) is only centred, to zeros.

    Mean and deviation are summed in float64: float32 sums over 10^5 patch values drift by
    tenths of a level, which made a flat set's constant channel look as if it varied."""
    mean = patches.mean(axis=(0, 2, 3), keepdims=True, dtype=np.float64)
    std = patches.std(axis=(0, 2, 3), keepdims=True, dtype=np.float64)
    std[std < STD_FLOOR] = 1.0  # dividing by rounding would blow it up to unit variance
    return ((patches - mean.astype(patches.dtype)) / std.astype(patches.dtype)).reshape(len(patches), -1)


def sliced_wasserstein(a: np.ndarray, b: np.ndarray, rng: np.random.Generator,
                       repeats: int = DIRECTION_REPEATS, directions: int = DIRECTIONS_PER_REPEAT) -> float:
    """Mean over random unit directions of the 1-D Wasserstein-1 distance of the projections
    of two equally sized point sets (M,D); one draw of directions per repeat."""
    if a.shape != b.shape:
        raise ValueError(f"both sets need the same number of patches, got {a.shape} and {b.shape}")
    results = []
    for _ in range(repeats):
        dirs = rng.standard_normal((a.shape[1], directions))
        dirs = (dirs / np.sqrt(np.sum(dirs ** 2, axis=0, keepdims=True))).astype(np.float32)
        proj_a = np.sort(a @ dirs, axis=0)
        proj_b = np.sort(b @ dirs, axis=0)
        results.append(float(np.mean(np.abs(proj_a - proj_b))))
    return float(np.mean(results))


class PatchSet:
    """The patches of one image set, fed batch by batch (uint8, or float in [-1,1])."""

    def __init__(self, seed: int, stream: int):
        self.rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(3)[stream])
        self.size: Union[tuple[int, int], None] = None
        self.levels: list[list[np.ndarray]] = []
        self.count = 0

    def add(self, images: Union[torch.Tensor, np.ndarray]) -> None:
        batch = to_uint8(torch.as_tensor(images)).cpu().numpy()
        size = batch.shape[2:]
        if self.size is None:
            self.size = size
            heights = level_heights(*size)
            if not heights:
                raise ValueError(f"SWD needs images of at least {MIN_RESOLUTION}x{MIN_RESOLUTION}, got {size}")
            self.levels = [[] for _ in heights]
        elif size != self.size:
            raise ValueError(f"SWD needs images of one size: got {size} after {self.size}")
        pyramid = laplacian_pyramid(batch, len(self.levels))
        for i in range(len(batch)):  # image by image, so the draws do not depend on batching
            for level, patches in zip(pyramid, self.levels):
                patches.append(sample_patches(level[i], self.rng))
        self.count += len(batch)

    def descriptors(self) -> list[np.ndarray]:
        """Per level, the normalised (N*128, 147) patch descriptors."""
        return [normalize_patches(np.concatenate(patches)) for patches in self.levels]


@dataclass
class SWDResult:
    levels: dict[int, float] = field(default_factory=dict)  # level height -> SWD x1e3

    @property
    def mean(self) -> float:
        return float(np.mean(list(self.levels.values())))

    def as_dict(self) -> dict:
        return {'swd': self.mean, 'swd_levels': {str(h): v for h, v in self.levels.items()}}


def swd_between(real: PatchSet, fake: PatchSet, seed: int) -> SWDResult:
    """SWD x1e3 per level and on average between two fed :class:`PatchSet` s."""
    if real.count != fake.count or real.count == 0:
        raise ValueError(f"SWD needs two non-empty sets of the same size, got {real.count} real "
                         f"and {fake.count} generated images")
    if real.size != fake.size:
        raise ValueError(f"SWD needs real and generated images of one size, got {real.size} and {fake.size}")
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(3)[DIRECTIONS])
    heights = level_heights(*real.size)
    return SWDResult({h: SCALE * sliced_wasserstein(a, b, rng)
                      for h, a, b in zip(heights, real.descriptors(), fake.descriptors())})


def swd(real: Union[torch.Tensor, np.ndarray], fake: Union[torch.Tensor, np.ndarray], seed: int = 0) -> SWDResult:
    """SWD between two (N,3,H,W) image sets (uint8, or float in [-1,1])."""
    real_set, fake_set = PatchSet(seed, REAL), PatchSet(seed, FAKE)
    real_set.add(real)
    fake_set.add(fake)
    return swd_between(real_set, fake_set, seed)
