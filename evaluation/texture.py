"""Texture error of the built-in synthetic dataset: how well generated images reproduce the
known texture of every labelled region, compared with the real images of the same label maps.

:mod:`data.synthetic` paints each class with a known look (stripes, checks or value noise at a
class-specific period, angle and contrast) that scales brightness only, under smooth shading.
The oracle segmenter judges chromaticity and cannot see texture; this metric measures it from
the known looks (see evaluation/README.md for how to read it):

1. **Brightness** ``b``: each pixel's luma over the luma of its *labelled* class's colour. On a
   render that is exactly shading x texture. Luma, not the projection on the class colour:
   JPEG's 4:2:0 chroma subsampling blurs chroma, which would read as lost texture.
2. **Texture residual**: in each class's *core* (its pixels at least :data:`CORE_MARGIN` from
   another label, so that boundaries, where the colour changes, never count), ``b`` minus its
   local affine fit, a Gaussian-weighted least-squares fit over that core only,
   :data:`DETREND_PERIODS` periods of the class wide. Shading is an affine ramp and drops out;
   a flat fill leaves nothing at all. Outside the cores the residual is 0.
3. **Filter bank**, matched to each class's look at the image's width and made of complex
   Gabor (quadrature) components, whose squared magnitude the phase of a periodic texture does
   not change: stripes, one component at 1/period along ``angle``; checks, one at each of the
   two diagonal fundamentals of ``sign(sin u sin v)`` (sqrt(2)/period), each its own band so
   that a turned pattern counts; value noise, whose energy lies below 1/period, one band of
   :data:`NOISE_ORIENTATIONS` components round a ring at :data:`NOISE_BAND`/period.
4. **Signatures**: per image and class, the energy each band passes of the class's residual,
   read off the residual's spectrum (Parseval) with only that class's core in the image, so
   regions never leak into each other. Every class's bands are measured in every region: a
   texture of another class shows as energy in the wrong band.

texture error = sum |S_fake - S_real| / sum S_real, over classes, bands and images:
0 when the textures match, exactly 1 for flat regions (no energy anywhere), above 1 for wrong
textures (the right energy missing *and* energy added elsewhere).

The error is not defined where the *real* region has no texture (a flat fill: its energy is
float rounding, below :data:`TEXTURE_FLOOR` per pixel): such a region is left out of the sums,
one warning per class says in how many images, and with nothing left the error is NaN ("not
defined" in the table, null in metrics.json).

A filter whose centre frequency is above :data:`MAX_FREQUENCY` cycles per pixel is left out at
that width: the pixel grid cannot hold its texture. From 32 px up every filter is used (the
noise band sits at 0.3/period, so sand, whose 0.03-wide cells are 1.9 px at 64 px, is measured
through the part of its spectrum the pixels hold); below 32 px the finest stripes and checks
drop out.
"""
import math
import warnings
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from data.synthetic import CLASS_NAMES, CLASS_RGB, LOOKS, NUM_CLASSES, Look
from evaluation.images import to_uint8

CORE_MARGIN = 1            # pixels next to another label that are left out
DETREND_PERIODS = 1.5      # Gaussian sigma of the affine fit, in periods of the region's class
MAX_FREQUENCY = 0.4        # cycles per pixel; filters above it are left out (Nyquist is 0.5)
ENVELOPE_WAVELENGTHS = 0.5  # Gaussian sigma of a filter's envelope, in its wavelengths
NOISE_BAND = 0.3           # centre frequency of a noise filter, in cycles per period
NOISE_ORIENTATIONS = 4
LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601, JPEG's luma

DTYPE = torch.float32  # of the FFTs: several times faster than float64, and 1e-7 is far below any texture
REACH = 4.0            # kernels are cut this many sigmas from their centre (exp(-8) ~ 3e-4 of the peak)
# A real region whose signature energy per core pixel is below this has no texture to compare with.
# Its energy is float32 rounding of b (luma over the class's luma, of order 1: rounding leaves
# ~1e-7 per pixel, energy ~1e-14; flat fills measure 1e-17 to 5e-14), and dividing by it gives any
# number at all (4.5e11 was reported). An 8-bit image cannot change by less than one level, 1/255
# of the luma range, so the floor is the energy of a texture whose RMS is a thousandth of a level:
# 300 times the rounding, over 100 times below a class colour with shading and no texture (8-bit
# rounding only: 2e-9 and up) and 1e5 times below the faintest region of a real render (3e-6).
TEXTURE_FLOOR = (1e-3 / 255) ** 2


# ---------------------------------------------------------------------------- the filter bank
@dataclass(frozen=True)
class Component:
    """One complex Gabor filter: centre frequency in cycles per pixel along x (columns) and
    y (rows), and the sigma of its Gaussian envelope in pixels."""
    fx: float
    fy: float
    sigma: float

    @property
    def frequency(self) -> float:
        return math.hypot(self.fx, self.fy)


def bands(look: Look, width: int) -> tuple[tuple[Component, ...], ...]:
    """The signature bands matched to ``look`` in an image ``width`` pixels wide; a band's
    energy is the sum of its components'. Stripes: one component at 1/period along the
    angle. Checks: one band per diagonal fundamental of ``sign(sin u sin v)``, kept apart so
    that energy moving between the diagonals (a turned pattern) counts. Noise: one band, a
    ring of components, as noise has no orientation."""
    period = look.period * width  # pixels
    a = math.radians(look.angle)
    along, across = np.array([math.cos(a), math.sin(a)]), np.array([-math.sin(a), math.cos(a)])
    if look.texture == 'stripes':
        groups = [[along / period]]
    elif look.texture == 'checks':  # sin u sin v = (cos(u - v) - cos(u + v)) / 2
        groups = [[(along + across) / period], [(along - across) / period]]
    else:
        turns = [math.pi * i / NOISE_ORIENTATIONS for i in range(NOISE_ORIENTATIONS)]
        groups = [[NOISE_BAND / period * np.array([math.cos(t), math.sin(t)]) for t in turns]]
    return tuple(tuple(_component(f) for f in group) for group in groups)


def _component(frequency: np.ndarray) -> Component:
    fx, fy = (float(v) for v in frequency)
    return Component(fx, fy, ENVELOPE_WAVELENGTHS / math.hypot(fx, fy))


def filter_bank(width: int) -> dict[int, tuple[tuple[Component, ...], ...]]:
    """class -> its bands at this width, for the classes whose texture the pixel grid can
    hold (every component at most :data:`MAX_FREQUENCY`): all of them from 32 px up."""
    bank = {}
    for cls, look in enumerate(LOOKS):
        matched = bands(look, width)
        if max(part.frequency for band in matched for part in band) <= MAX_FREQUENCY:
            bank[cls] = matched
    return bank


# ---------------------------------------------------------------------------- FFT correlation
def _fft_length(n: int) -> int:
    """The smallest length >= n without prime factors above 5 (fast for the FFT)."""
    while True:
        m = n
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        if m == 1:
            return n
        n += 1


@dataclass(frozen=True)
class Grid:
    """The FFT grid for correlating (height, width) maps with kernels reaching ``reach``
    pixels from their centre, large enough that no kernel wraps round onto the image."""
    height: int
    width: int
    reach: int

    @property
    def shape(self) -> tuple[int, int]:
        return (_fft_length(self.height + min(self.reach, self.height)),
                _fft_length(self.width + min(self.reach, self.width)))

    def offsets(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Signed offsets dy (column vector) and dx (row vector) in the FFT's order, and
        where a kernel may be non-zero: within ``reach`` and unable to wrap round."""
        axes = []
        for length, size in zip(self.shape, (self.height, self.width)):
            d = (np.arange(length) + length // 2) % length - length // 2
            axes.append((d.astype(np.float64), np.abs(d) <= min(self.reach, length - size)))
        (dy, rows), (dx, cols) = axes
        return dy[:, None], dx[None, :], rows[:, None] & cols[None, :]

    def spectra(self, kernels: np.ndarray, device: torch.device) -> torch.Tensor:
        """(K, *shape) kernels -> their conjugated spectra, for :meth:`correlate`."""
        return torch.fft.rfft2(torch.as_tensor(kernels, dtype=DTYPE, device=device)).conj()

    def correlate(self, maps: torch.Tensor, spectra: torch.Tensor) -> torch.Tensor:
        """(...,H,W) maps -> (...,K,H,W): ``out[k, x] = sum_d kernel_k[d] * map[x + d]``."""
        spectrum = torch.fft.rfft2(maps.to(DTYPE), s=self.shape).unsqueeze(-3)
        return torch.fft.irfft2(spectrum * spectra, s=self.shape)[..., :self.height, :self.width]


def _reach(sigma: float) -> int:
    return int(math.ceil(REACH * sigma))


def detrend_sigma(cls: int, width: int) -> float:
    """Gaussian sigma (pixels) of the affine fit in the regions of class ``cls``."""
    return max(1.0, DETREND_PERIODS * LOOKS[cls].period * width)


@lru_cache(maxsize=64)
def _moment_kernels(height: int, width: int, sigma: float, device: torch.device) -> tuple[Grid, torch.Tensor]:
    """w, w x, w y, w x^2, w x y, w y^2 for a Gaussian w of ``sigma`` pixels, with x and y in
    units of sigma so that the moment matrices stay well conditioned."""
    grid = Grid(height, width, _reach(sigma))
    dy, dx, support = grid.offsets()
    y, x = dy / sigma, dx / sigma
    w = np.exp(-(x * x + y * y) / 2) * support
    return grid, grid.spectra(np.stack([w, w * x, w * y, w * x * x, w * x * y, w * y * y]), device)


def _component_gain(part: Component, fy: np.ndarray, fx: np.ndarray) -> np.ndarray:
    """|response|^2 of ``part`` to the frequencies (fy, fx) in cycles per pixel, 1 at its
    centre: a Gaussian bump round the centre frequency (the nearest alias on the pixel grid),
    less the same envelope's bump at 0 so that a constant gives nothing."""
    def envelope(dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
        dy, dx = (dy + 0.5) % 1 - 0.5, (dx + 0.5) % 1 - 0.5  # the nearest alias
        return np.exp(-2 * (np.pi * part.sigma) ** 2 * (dx * dx + dy * dy))
    at_centre = envelope(np.float64(part.fy), np.float64(part.fx))
    gain = envelope(fy - part.fy, fx - part.fx) - envelope(fy, fx) * at_centre
    return (gain / (1 - at_centre ** 2)) ** 2


@lru_cache(maxsize=16)
def _band_weights(height: int, width: int, device: torch.device) -> tuple[torch.Tensor, tuple[int, ...]]:
    """(F,2H',2W') the squared gain of each band of the bank on the spectral grid of a residual
    zero-padded to :func:`_spectrum_shape`, and the class of each band."""
    rows, cols = _spectrum_shape(height, width)
    fy, fx = np.fft.fftfreq(rows)[:, None], np.fft.fftfreq(cols)[None, :]
    weights, classes = [], []
    for cls, matched in filter_bank(width).items():
        for band in matched:
            weights.append(sum(_component_gain(part, fy, fx) for part in band))
            classes.append(cls)
    return torch.as_tensor(np.stack(weights), dtype=DTYPE, device=device), tuple(classes)


def _spectrum_shape(height: int, width: int) -> tuple[int, int]:
    """Twice the image, so that the spectrum resolves half a cycle per image."""
    return _fft_length(2 * height), _fft_length(2 * width)


# ---------------------------------------------------------------------------- signatures
def brightness(images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """(N,3,H,W) uint8 images and (H,W) class indices -> (N,H,W) float64: each pixel's luma
    over its labelled class's (0 where not labelled)."""
    luma = torch.tensor(LUMA, dtype=torch.float64, device=images.device)
    class_luma = torch.as_tensor(CLASS_RGB, dtype=torch.float64, device=images.device) @ luma
    y = torch.einsum('nchw,c->nhw', images.to(torch.float64) / 255, luma)
    b = y / class_luma[labels.clamp(0, NUM_CLASSES - 1)]
    return torch.where(labels >= 0, b, torch.zeros_like(b))


def region_cores(labels: torch.Tensor) -> torch.Tensor:
    """(C,H,W) bool: each class's pixels with no other label (nor an unlabelled pixel) within
    :data:`CORE_MARGIN` pixels, a square neighbourhood; the image border is no boundary."""
    size = 2 * CORE_MARGIN + 1
    cores = []
    for cls in range(NUM_CLASSES):
        other = (labels != cls).to(torch.float32)[None, None]
        near_other = F.max_pool2d(other, size, stride=1, padding=CORE_MARGIN)[0, 0] > 0  # pads with -inf
        cores.append((labels == cls) & ~near_other)
    return torch.stack(cores)


def texture_residual(b: torch.Tensor, cores: torch.Tensor) -> torch.Tensor:
    """(N,H,W) brightness minus, in each class's core, its local affine fit over that core
    (0 outside the cores)."""
    height, width = b.shape[-2:]
    residual = torch.zeros_like(b)
    for cls in range(NUM_CLASSES):
        core = cores[cls]
        if not bool(core.any()):
            continue
        grid, spectra = _moment_kernels(height, width, detrend_sigma(cls, width), b.device)
        mask = core.to(b.dtype)
        moments = grid.correlate(mask, spectra)[:, core].to(torch.float64)        # (6,P)
        sums = grid.correlate(mask * b, spectra[:3])[..., core].to(torch.float64)  # (N,3,P)
        residual[:, core] = b[:, core] - (sums * _fit_weights(moments)).sum(dim=-2)
    return residual


def _fit_weights(moments: torch.Tensor) -> torch.Tensor:
    """(3,P) weights such that ``weights . (sum w b, sum w x b, sum w y b)`` is the weighted
    least-squares plane's value at the window's centre: the first row of the inverse of the
    moment matrix [[m, mx, my], [mx, mxx, mxy], [my, mxy, myy]]. Where the core's pixels in
    the window are (nearly) on a line, the plane is undefined and the weighted mean is used."""
    m, mx, my, mxx, mxy, myy = moments
    cofactors = torch.stack([mxx * myy - mxy * mxy, my * mxy - mx * myy, mx * mxy - my * mxx])
    det = m * cofactors[0] + mx * cofactors[1] + my * cofactors[2]
    plane = det > 1e-3 * m ** 3  # well above the FFTs' rounding; 1 for a full window (x, y in sigmas)
    mean = torch.stack([1 / m, torch.zeros_like(m), torch.zeros_like(m)])
    return torch.where(plane, cofactors / torch.where(plane, det, torch.ones_like(det)), mean)


def signatures(images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, tuple[int, ...]]:
    """For N uint8 (N,3,H,W) images of one (H,W) label map: (N,C,F) float64, the energy that
    each of the F bands passes of each class's texture residual (0 for classes without a core),
    and the class of each band (:func:`filter_bank` at this width).

    The energy is read off the spectrum of the residual restricted to the class's core
    (Parseval): the sum over all positions of the squared response, as if only that region
    were in the image."""
    height, width = labels.shape
    cores = region_cores(labels)
    residual = texture_residual(brightness(images, labels), cores)
    weights, classes = _band_weights(height, width, images.device)
    present = [k for k in range(NUM_CLASSES) if bool(cores[k].any())]
    out = torch.zeros((images.shape[0], NUM_CLASSES, len(classes)), dtype=torch.float64, device=images.device)
    if not present:  # nothing labelled (an FFT of no maps is an error on some backends)
        return out, classes
    regions = (residual.unsqueeze(1) * cores[present]).to(DTYPE)                  # (N,K,H,W)
    shape = _spectrum_shape(height, width)
    power = torch.fft.fft2(regions, s=shape).abs() ** 2
    energy = torch.einsum('nkab,fab->nkf', power, weights).to(torch.float64) / (shape[0] * shape[1])
    out[:, present] = energy
    return out, classes


# ---------------------------------------------------------------------------- the metric
class TextureTerms(NamedTuple):
    """Per image and class (three (B,C) CPU tensors): the texture error's numerator
    ``sum_f |S_fake - S_real|`` and denominator ``sum_f S_real`` (float64, both 0 where the
    class has no core or the error is not defined), and ``untextured`` (bool): the class has a
    core but the real image no texture there (below :data:`TEXTURE_FLOOR`)."""
    numerator: torch.Tensor
    denominator: torch.Tensor
    untextured: torch.Tensor


def texture_terms(fake: torch.Tensor, real: torch.Tensor, labels: torch.Tensor) -> TextureTerms:
    """The texture error's terms of each image and class (:class:`TextureTerms`).

    ``fake`` and ``real``: (B,3,H,W) uint8, or float in [-1,1] (quantised as
    :func:`evaluation.images.to_uint8` does); ``labels``: (B,H,W) or (B,1,H,W) class indices,
    negative where not scored."""
    fake = to_uint8(fake)
    real = to_uint8(real).to(fake.device)
    labels = torch.as_tensor(labels, device=fake.device).long()
    if labels.dim() == 4 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if real.shape != fake.shape or labels.shape != (fake.shape[0],) + fake.shape[2:]:
        raise ValueError(f"fake {tuple(fake.shape)}, real {tuple(real.shape)} and labels {tuple(labels.shape)} "
                         f"do not match")
    numerator = torch.zeros((fake.shape[0], NUM_CLASSES), dtype=torch.float64)
    denominator = torch.zeros_like(numerator)
    untextured = torch.zeros(numerator.shape, dtype=torch.bool)
    for i in range(fake.shape[0]):
        sig, _ = signatures(torch.stack([fake[i], real[i]]), labels[i])
        pixels = region_cores(labels[i]).flatten(1).sum(dim=1).cpu()
        energy = sig[1].sum(dim=-1).cpu()
        untextured[i] = (pixels > 0) & (energy < TEXTURE_FLOOR * pixels)
        scored = (pixels > 0) & ~untextured[i]
        numerator[i] = torch.where(scored, (sig[0] - sig[1]).abs().sum(dim=-1).cpu(), 0.0)
        denominator[i] = torch.where(scored, energy, 0.0)
    return TextureTerms(numerator, denominator, untextured)


def texture_error(fake: torch.Tensor, real: torch.Tensor, labels: torch.Tensor) -> float:
    """The texture error of one batch (see the module docstring); NaN where not defined."""
    accumulator = TextureError()
    accumulator.add(fake, real, labels)
    return accumulator.error()


class TextureError:
    """The texture error over an evaluation set: :meth:`add` batches, then :meth:`results`.
    Numerator and denominator are summed over every image, so the batching does not matter."""

    def __init__(self) -> None:
        self.numerator = torch.zeros(NUM_CLASSES, dtype=torch.float64)
        self.denominator = torch.zeros(NUM_CLASSES, dtype=torch.float64)
        self.regions = torch.zeros(NUM_CLASSES, dtype=torch.int64)     # images with a core of the class
        self.untextured = torch.zeros(NUM_CLASSES, dtype=torch.int64)  # of those, without real texture
        self.images = 0

    def add(self, fake: torch.Tensor, real: torch.Tensor, labels: torch.Tensor) -> None:
        """One batch, as :func:`texture_terms` takes it."""
        terms = texture_terms(fake, real, labels)
        self.numerator += terms.numerator.sum(dim=0)
        self.denominator += terms.denominator.sum(dim=0)
        self.regions += ((terms.denominator > 0) | terms.untextured).sum(dim=0)
        self.untextured += terms.untextured.sum(dim=0)
        self.images += terms.numerator.shape[0]

    def error(self) -> float:
        """Over every image added; NaN while no real region with texture was seen."""
        total = float(self.denominator.sum())
        return float(self.numerator.sum()) / total if total > 0 else math.nan

    def per_class(self) -> dict[str, float]:
        """The error of each class's regions alone, by class name, for the classes seen (NaN
        for a class whose real regions all lack texture)."""
        return {CLASS_NAMES[k]: float(self.numerator[k] / self.denominator[k]) if self.denominator[k] > 0
                else math.nan for k in range(NUM_CLASSES) if self.regions[k] > 0}

    def undefined(self) -> list[str]:
        """One line per class with regions left out, and one when the error is not defined."""
        lines = [f"texture error: the real images have no texture in the {CLASS_NAMES[k]} regions of "
                 f"{int(self.untextured[k])} of {int(self.regions[k])} images (flat: texture energy below "
                 f"{TEXTURE_FLOOR:.1e} per pixel); not defined there, left out of the mean"
                 for k in range(NUM_CLASSES) if self.untextured[k] > 0]
        if self.images and math.isnan(self.error()):
            size = 2 * CORE_MARGIN + 1
            why = ('no real region has texture' if self.regions.any()
                   else f'no labelled region holds a {size}x{size} block of its class')
            lines.append(f"texture error: not defined for these {self.images} images: {why}")
        return lines

    def results(self) -> dict:
        """{'texture_error', 'texture_error_classes'}; warns once for each line of :meth:`undefined`."""
        for line in self.undefined():
            warnings.warn(line)
        return {'texture_error': self.error(), 'texture_error_classes': self.per_class()}
