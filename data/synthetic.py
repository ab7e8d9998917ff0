"""The built-in dataset's procedural scenes, and an exact oracle segmenter for them.

A scene is a background ("sky") with overlapping bands, ellipses and polygons, each shape
painted as one of the other classes. Each class has its own look:

- a hue (8 hues spread round the colour wheel, at the same saturation),
- a texture (stripes, checks or smooth noise at a class-specific period and orientation),
- smooth shading (a brightness ramp across each shape; the sky brightens upwards).

Texture and shading only scale brightness, never hue, so the chromaticity ``rgb / (r+g+b)``
of every pixel is its class's own. :func:`oracle_segment` classifies pixels by the nearest
class chromaticity: it needs nothing but the image, is exact on rendered images up to 8-bit
rounding, and gives a generator credit only for painting each region in its class's colours.

Scenes are described in image-relative coordinates, so ``render(i, 64, ...)`` and
``render(i, 256, ...)`` show the same scene at two resolutions. Each (seed, split, index) has
its own random stream; the train and test splits use different streams.
"""
from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage

NUM_CLASSES = 8
CLASS_NAMES = ['sky', 'brick', 'sand', 'moss', 'grass', 'water', 'lavender', 'rose']
SPLITS = {'train': 1, 'test': 2}

SATURATION = 0.7
MIN_SHADE = 0.56  # the darkest shading; with the strongest texture pixels stay >= 0.36 bright


@dataclass(frozen=True)
class Look:
    hue: float        # degrees
    texture: str      # 'stripes' | 'checks' | 'noise'
    period: float     # texture period, as a fraction of the image width
    angle: float      # degrees; the direction along which the texture varies
    contrast: float   # how much the texture darkens, 0..1


# Periods are chosen so that a small generator can learn them at the built-in 64 px: SPADE's
# generator gets no noise, so a texture inside a region must be built from positional cues, and
# stripes or check diagonals finer than about 4 px at 64 px were not learned within the loss
# study's budget (grass at 0.05, brick at 0.08, rose at 0.06 stayed at texture error ~1.0 after
# 2,400 images while water at 0.09 reached 0.44: docs/results.md). Sand keeps its fine grain: a
# texture no small model reaches, at a small share of the texture energy.
LOOKS = (
    Look(hue=215, texture='noise', period=0.25, angle=0, contrast=0.12),
    Look(hue=0, texture='checks', period=0.16, angle=0, contrast=0.35),
    Look(hue=40, texture='noise', period=0.03, angle=0, contrast=0.30),
    Look(hue=85, texture='noise', period=0.10, angle=0, contrast=0.35),
    Look(hue=130, texture='stripes', period=0.10, angle=10, contrast=0.35),
    Look(hue=180, texture='stripes', period=0.09, angle=90, contrast=0.30),
    Look(hue=265, texture='checks', period=0.12, angle=45, contrast=0.30),
    Look(hue=320, texture='stripes', period=0.10, angle=135, contrast=0.35),
)


def _hue_to_rgb(hue: float) -> np.ndarray:
    """Full-value RGB in [0,1] of ``hue`` at :data:`SATURATION`."""
    h = (hue % 360) / 60.0
    k = (np.array([5.0, 3.0, 1.0]) + h) % 6
    return 1.0 - SATURATION * np.clip(np.minimum(k, 4 - k), 0, 1)


CLASS_RGB = np.stack([_hue_to_rgb(look.hue) for look in LOOKS])           # (C,3) in [0,1]
CLASS_CHROMA = CLASS_RGB / CLASS_RGB.sum(axis=1, keepdims=True)          # (C,3), rows sum to 1


# ---------------------------------------------------------------------------- scene layout
@dataclass
class Shape:
    kind: str            # 'band' | 'ellipse' | 'polygon'
    cls: int
    params: tuple
    shade_dir: float     # radians: direction in which the shape brightens
    shade_center: tuple  # (x, y) where the shading is mid-grey


def _random_shapes(rng: np.random.Generator) -> list:
    """The scene's shapes, bottom first; drawn from ``rng`` in a size-independent order."""
    shapes = []
    if rng.random() < 0.75:  # ground below a wavy horizon, as in a landscape
        y0, slope = rng.uniform(0.4, 0.75), rng.uniform(-0.3, 0.3)
        amp, freq, phase = rng.uniform(0.0, 0.08), rng.uniform(0.5, 2.0), rng.uniform(0, 2 * np.pi)
        shapes.append(_shape(rng, 'band', (y0 + 1, slope, amp, freq, phase, 2.0), center=(0.5, y0)))
    for _ in range(int(rng.integers(0, 3))):
        y0, slope = rng.uniform(0.2, 0.85), rng.uniform(-0.4, 0.4)
        amp, freq, phase = rng.uniform(0.0, 0.06), rng.uniform(0.5, 2.5), rng.uniform(0, 2 * np.pi)
        thick = rng.uniform(0.08, 0.25)
        shapes.append(_shape(rng, 'band', (y0, slope, amp, freq, phase, thick), center=(0.5, y0)))
    for _ in range(int(rng.integers(4, 9))):
        cx, cy = rng.uniform(0.05, 0.95, size=2)
        if rng.random() < 0.5:
            rx, ry = rng.uniform(0.07, 0.3, size=2)
            params = (cx, cy, rx, ry, rng.uniform(0, np.pi))
            shapes.append(_shape(rng, 'ellipse', params, center=(cx, cy)))
        else:
            k = int(rng.integers(3, 7))
            angles = np.sort(rng.uniform(0, 2 * np.pi, size=k))
            radii = rng.uniform(0.1, 0.35) * rng.uniform(0.55, 1.0, size=k)
            xs, ys = cx + radii * np.cos(angles), cy + radii * np.sin(angles)
            shapes.append(_shape(rng, 'polygon', (xs, ys), center=(cx, cy)))
    return shapes


def _shape(rng: np.random.Generator, kind: str, params: tuple, center: tuple) -> Shape:
    cls = int(rng.integers(1, NUM_CLASSES))
    return Shape(kind, cls, params, shade_dir=rng.uniform(0, 2 * np.pi), shade_center=center)


def _shape_mask(shape: Shape, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    if shape.kind == 'band':
        y0, slope, amp, freq, phase, thick = shape.params
        middle = y0 + slope * (x - 0.5) + amp * np.sin(2 * np.pi * freq * x + phase)
        return np.abs(y - middle) < thick / 2
    if shape.kind == 'ellipse':
        cx, cy, rx, ry, theta = shape.params
        dx, dy = x - cx, y - cy
        u = dx * np.cos(theta) + dy * np.sin(theta)
        v = -dx * np.sin(theta) + dy * np.cos(theta)
        return (u / rx) ** 2 + (v / ry) ** 2 <= 1.0
    return _inside_polygon(*shape.params, x, y)


def _pixel_box(shape: Shape, size: int) -> tuple:
    """(rows, cols) slices of the pixels whose centres may lie inside ``shape``."""
    if shape.kind == 'band':
        y0, slope, amp, _, _, thick = shape.params
        reach = abs(slope) / 2 + amp + thick / 2
        return _pixels(y0 - reach, y0 + reach, size), slice(0, size)
    if shape.kind == 'ellipse':
        cx, cy, rx, ry, _ = shape.params
        r = max(rx, ry)
        return _pixels(cy - r, cy + r, size), _pixels(cx - r, cx + r, size)
    xs, ys = shape.params
    return _pixels(ys.min(), ys.max(), size), _pixels(xs.min(), xs.max(), size)


def _pixels(low: float, high: float, size: int) -> slice:
    """Pixels whose centres (i + 0.5) / size lie in [low, high]."""
    start = max(0, int(np.floor(low * size - 0.5)))
    return slice(start, max(start, min(size, int(np.ceil(high * size - 0.5)) + 1)))


def _inside_polygon(xs: np.ndarray, ys: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Even-odd rule: a point is inside when a ray to its right crosses an odd number of edges."""
    inside = np.zeros(x.shape, dtype=bool)
    for i in range(len(xs)):
        x1, y1, x2, y2 = xs[i - 1], ys[i - 1], xs[i], ys[i]
        if y1 == y2:
            continue
        straddles = (y1 > y) != (y2 > y)
        cross_x = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
        inside ^= straddles & (x < cross_x)
    return inside


# ---------------------------------------------------------------------------- painting
def _texture(look: Look, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Texture strength in [0,1] at the points (x, y) for one class and one scene."""
    phase = rng.uniform(0, 2 * np.pi, size=2)
    grid = rng.random((int(np.ceil(1 / look.period)) + 2,) * 2)  # drawn whatever the texture
    a = np.deg2rad(look.angle)
    u = (x * np.cos(a) + y * np.sin(a)) * 2 * np.pi / look.period + phase[0]
    if look.texture == 'stripes':
        return 0.5 + 0.5 * np.sin(u)
    if look.texture == 'checks':
        v = (-x * np.sin(a) + y * np.cos(a)) * 2 * np.pi / look.period + phase[1]
        return (np.sin(u) * np.sin(v) > 0).astype(np.float64)
    # smooth value noise: a random grid, one cell per period, interpolated bilinearly
    coords = np.stack([y / look.period + 0.5, x / look.period + 0.5])
    return ndimage.map_coordinates(grid, coords, order=1, mode='nearest')


def _shading(shapes: list, owner: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Brightness in [MIN_SHADE, 1]: a ramp across each shape, the sky brighter at the top."""
    sky = 1.0 - (1.0 - MIN_SHADE) * np.clip(y, 0, 1)
    if not shapes:
        return sky
    dirs = np.array([s.shade_dir for s in shapes] + [0.0])
    centers = np.array([s.shade_center for s in shapes] + [(0.0, 0.0)])
    idx = np.where(owner < 0, len(shapes), owner)
    t = (x - centers[idx, 0]) * np.cos(dirs[idx]) + (y - centers[idx, 1]) * np.sin(dirs[idx])
    mid = (1.0 + MIN_SHADE) / 2
    ramp = mid + (1.0 - mid) * np.clip(t / 0.25, -1, 1)
    return np.where(owner < 0, sky, ramp)


def render(index: int, size: int, seed: int, split: str) -> tuple:
    """Scene ``index`` of ``split`` ('train' or 'test') as ``size`` x ``size`` arrays.

    Returns ``(labels, image)``: uint8 (H,W) class indices in ``[0, NUM_CLASSES)`` and uint8
    (H,W,3) RGB. The same arguments always give the same arrays."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {sorted(SPLITS)}, got {split!r}")
    if size < 1 or index < 0:
        raise ValueError(f"need size >= 1 and index >= 0, got size={size}, index={index}")
    rng = np.random.default_rng(np.random.SeedSequence([seed, SPLITS[split], index]))
    shapes = _random_shapes(rng)
    centers = (np.arange(size) + 0.5) / size
    x, y = np.meshgrid(centers, centers)

    labels = np.zeros((size, size), dtype=np.uint8)
    owner = np.full((size, size), -1, dtype=np.int64)
    for i, shape in enumerate(shapes):
        box = _pixel_box(shape, size)  # only pixels that can be inside: 5x faster at 256
        mask = _shape_mask(shape, x[box], y[box])
        labels[box][mask] = shape.cls
        owner[box][mask] = i

    brightness = _shading(shapes, owner, x, y)
    for cls, look in enumerate(LOOKS):
        texture_rng = np.random.default_rng(np.random.SeedSequence([seed, SPLITS[split], index, 1000 + cls]))
        where = labels == cls
        if where.any():
            brightness[where] *= 1.0 - look.contrast * _texture(look, x[where], y[where], texture_rng)
    image = CLASS_RGB[labels] * brightness[..., None]
    return labels, np.round(image * 255).astype(np.uint8)


# ---------------------------------------------------------------------------- oracle
def oracle_segment(images: torch.Tensor) -> torch.Tensor:
    """Classes of (B,3,H,W) images in [-1,1] (generator outputs) as (B,H,W) int64.

    Each pixel gets the class whose chromaticity ``rgb / (r+g+b)`` is nearest to its own.
    Shading and texture change brightness only, so on rendered images this recovers the label
    map exactly (up to 8-bit rounding); a flat or wrongly coloured image scores poorly."""
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"expected (B,3,H,W) images, got shape {tuple(images.shape)}")
    rgb = ((images.detach().float() + 1) / 2).clamp(0, 1)
    chroma = rgb / rgb.sum(dim=1, keepdim=True).clamp_min(1e-6)
    centroids = torch.as_tensor(CLASS_CHROMA, dtype=chroma.dtype, device=chroma.device)
    # squared distance |c - m|^2 without |c|^2, which is the same for every class
    cross = torch.einsum('bchw,kc->bkhw', chroma, centroids)
    dist = (centroids ** 2).sum(dim=1).view(1, -1, 1, 1) - 2 * cross
    return dist.argmin(dim=1)
