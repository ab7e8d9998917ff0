"""Fréchet Inception Distance with pytorch-fid's network and weights (the TF-ported Inception
that FID numbers in the literature are computed with).

We take the network and the weights URL from pytorch-fid itself (that is what makes the numbers
comparable); what is ours is where the weights come from (an explicit file for offline machines,
or torch hub's cache), activations of in-memory batches, the error a user sees when no weights
exist, and the Fréchet distance (:func:`frechet_distance`): pytorch-fid's calls
``scipy.linalg.sqrtm(..., disp=False)``, which SciPy 1.18 no longer accepts.
"""
import math
import os
import threading
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Optional, Union

import numpy as np
import torch
import torch.nn.functional as F
from pytorch_fid import inception as fid_inception

from evaluation.images import to_uint8
from evaluation.settings import FID_DIMS as DIMS
from util.errors import CheckpointError, UserError
from util.state_dict import read_state_dict

FID_WEIGHTS_FILE = 'pt_inception-2015-12-05-6726825d.pth'
FID_WEIGHTS_URL = fid_inception.FID_WEIGHTS_URL
MIN_IMAGES = 2  # per set: the unbiased covariance divides by N - 1

_loader_lock = threading.Lock()


@dataclass(frozen=True)
class FIDStats:
    """Mean and covariance of Inception activations over ``count`` images."""
    mu: np.ndarray
    sigma: np.ndarray
    count: int


class InceptionFeatures:
    """pytorch-fid's InceptionV3 with its input conventions, ready to embed batches.

    ``weights_id`` identifies the weights file (path, size, mtime) so cached statistics from
    other weights are never reused."""

    def __init__(self, net: torch.nn.Module, dims: int, device: Union[str, torch.device], weights_id: str):
        self.net = net.to(device).eval()
        self.dims = dims
        self.device = torch.device(device)
        self.weights_id = weights_id

    @torch.no_grad()
    def activations(self, images: torch.Tensor) -> np.ndarray:
        """(B, dims) float64 activations of (B,3,H,W) images: uint8, or float in [-1,1]
        (quantised to 8 bits first, like a saved PNG)."""
        unit = to_uint8(images).to(self.device).float() / 255.0  # the [0,1] input pytorch-fid expects
        features = self.net(unit)[0]
        if features.shape[2:] != (1, 1):  # blocks below pool3 are pooled, as pytorch-fid does
            features = F.adaptive_avg_pool2d(features, output_size=(1, 1))
        return features.flatten(1).cpu().numpy().astype(np.float64)


def hub_weights_path() -> str:
    """Where torch hub caches pytorch-fid's weights (honours $TORCH_HOME)."""
    return os.path.join(torch.hub.get_dir(), 'checkpoints', FID_WEIGHTS_FILE)


def inception_weights_available(weights: Optional[str] = None) -> bool:
    """Whether :func:`load_inception` can run without downloading anything."""
    return os.path.isfile(weights if weights else hub_weights_path())


def load_inception(weights: Optional[str] = None, dims: int = 2048,
                   device: Union[str, torch.device] = 'cpu') -> InceptionFeatures:
    """pytorch-fid's FID Inception, weights from the file ``weights`` (``--fid_weights``) or,
    without it, from torch hub's cache (downloaded there on first use).

    Raises :class:`UserError` when no weights can be had, :class:`CheckpointError` when the
    file is not this network's state dict (loading is strict)."""
    if dims not in DIMS:
        raise UserError(f"--fid_dims must be one of {', '.join(map(str, DIMS))} (2048 is the standard), got {dims}")
    path = os.path.abspath(weights) if weights else None
    source = _file_loader(path) if path else _hub_loader()
    with _weights_from(source):
        try:
            net = fid_inception.InceptionV3([fid_inception.InceptionV3.BLOCK_INDEX_BY_DIM[dims]])
        except RuntimeError as exc:  # strict load_state_dict: wrong keys or shapes
            raise CheckpointError(f"{_describe(path)} is not the FID Inception network's weights: "
                                  f"{_first_lines(exc)}") from None
    return InceptionFeatures(net, dims, device, _file_id(path or hub_weights_path()))


@contextmanager
def _weights_from(loader: Callable[..., dict]) -> Iterator[None]:
    # pytorch-fid always fetches its weights by URL; swap in our source for the one build
    with _loader_lock:
        original = fid_inception.load_state_dict_from_url
        fid_inception.load_state_dict_from_url = loader
        try:
            yield
        finally:
            fid_inception.load_state_dict_from_url = original


def _file_loader(path: str) -> Callable[..., dict]:
    def load(*_args, **_kwargs) -> dict:
        if not os.path.isfile(path):
            what = 'is a folder' if os.path.isdir(path) else 'does not exist'
            raise UserError(f"--fid_weights '{path}' {what}: give the file {FID_WEIGHTS_FILE} (pytorch-fid's "
                            f"weights, from {FID_WEIGHTS_URL})")
        return read_state_dict(path, '--fid_weights file')
    return load


def _hub_loader() -> Callable[..., dict]:
    def load(url: str, *_args, **_kwargs) -> dict:
        try:
            return torch.hub.load_state_dict_from_url(url, map_location='cpu', progress=True, weights_only=True)
        except Exception as exc:  # offline, proxy, HTTP or truncated-download errors alike
            raise UserError(
                f"the FID Inception weights are not available ({_first_lines(exc)}): download {FID_WEIGHTS_URL} "
                f"to {hub_weights_path()} (torch hub's cache; set $TORCH_HOME to move it), or give the file "
                f"{FID_WEIGHTS_FILE} with --fid_weights PATH") from None
    return load


def _describe(path: Optional[str]) -> str:
    return f"--fid_weights '{path}'" if path else f"the cached file '{hub_weights_path()}'"


def _file_id(path: str) -> str:
    stat = os.stat(path)
    return f"{os.path.realpath(path)}:{stat.st_size}:{stat.st_mtime_ns}"


def _first_lines(exc: BaseException, limit: int = 300) -> str:
    text = ' '.join(str(exc).split())
    return text if len(text) <= limit else text[:limit] + '...'


class ActivationSet:
    """Activations accumulated batch by batch, then reduced to :class:`FIDStats`."""

    def __init__(self, features: InceptionFeatures):
        self.features = features
        self.parts: list[np.ndarray] = []

    def add(self, images: torch.Tensor) -> None:
        self.parts.append(self.features.activations(images))

    @property
    def count(self) -> int:
        return sum(len(part) for part in self.parts)

    def stats(self) -> FIDStats:
        return statistics(np.concatenate(self.parts) if self.parts else np.zeros((0, self.features.dims)))


def statistics(activations: np.ndarray) -> FIDStats:
    """Mean and (unbiased) covariance of (N, dims) activations, as pytorch-fid computes them.
    Below :data:`MIN_IMAGES` they are NaN: the covariance divides by N - 1."""
    count, dims = activations.shape
    if count < MIN_IMAGES:
        mu = np.mean(activations, axis=0) if count else np.full(dims, np.nan)
        return FIDStats(mu, np.full((dims, dims), np.nan), count)
    return FIDStats(np.mean(activations, axis=0), np.cov(activations, rowvar=False), count)


def stats_of_batches(features: InceptionFeatures, batches: Iterable[torch.Tensor]) -> FIDStats:
    """Statistics of image batches ((B,3,H,W) uint8, or float in [-1,1]): the training loop
    feeds generated batches here without writing files."""
    acc = ActivationSet(features)
    for batch in batches:
        acc.add(batch)
    return acc.stats()


def fid_from_stats(a: FIDStats, b: FIDStats) -> float:
    """The Fréchet distance between two activation Gaussians; NaN, with a warning, where a set
    has fewer than :data:`MIN_IMAGES` images (no covariance: FID is not defined)."""
    if a.mu.shape != b.mu.shape:
        raise UserError(f"cannot compare FID statistics of {a.mu.shape[0]} and {b.mu.shape[0]} dimensions")
    if min(a.count, b.count) < MIN_IMAGES:
        warnings.warn(f"FID: not defined for sets of {a.count} and {b.count} images: the covariance of the "
                      f"Inception activations needs at least {MIN_IMAGES} images per set")
        return math.nan
    try:
        return frechet_distance(a.mu, a.sigma, b.mu, b.sigma)
    except ValueError as exc:  # NaN or inf in the statistics (e.g. a corrupt cache entry)
        raise UserError(f"FID cannot be computed: {exc}") from None


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """``|mu1 - mu2|^2 + tr(sigma1) + tr(sigma2) - 2 tr((sigma1 sigma2)^(1/2))`` for covariance
    matrices (symmetric, positive semi-definite).

    The trace of the square root is the sum of the square roots of the eigenvalues of
    ``sigma1 sigma2``, which are those of the symmetric ``S sigma2 S`` with ``S = sigma1^(1/2)``:
    two symmetric eigen-decompositions, exact for singular covariances (fewer images than
    dimensions) without an ``eps`` offset, and with no complex intermediate results."""
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != mu1.shape * 2:
        raise ValueError(f"means {mu1.shape} / {mu2.shape} and covariances {sigma1.shape} / {sigma2.shape} "
                         f"do not match")
    for name, value in (('mean', mu1), ('mean', mu2), ('covariance', sigma1), ('covariance', sigma2)):
        if not np.all(np.isfinite(value)):
            raise ValueError(f"the {name} holds NaN or infinite values")
    root1 = _psd_sqrt(sigma1)
    inner = _symmetric(root1 @ _symmetric(sigma2) @ root1)
    trace_sqrt = np.sqrt(_resolved(np.linalg.eigvalsh(inner))).sum()
    diff = mu1 - mu2
    distance = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt
    return float(max(distance, 0.0))  # it is >= 0; only rounding can make it negative


def _symmetric(matrix: np.ndarray) -> np.ndarray:
    # products of symmetric matrices are symmetric only up to rounding; eigh reads one triangle
    return (matrix + matrix.T) / 2


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """The symmetric square root of a positive semi-definite matrix."""
    values, vectors = np.linalg.eigh(_symmetric(matrix))
    return (vectors * np.sqrt(_resolved(values))) @ vectors.T


def _resolved(eigenvalues: np.ndarray) -> np.ndarray:
    """Eigenvalues of a positive semi-definite matrix with those below its rounding level set to 0.

    A singular covariance has eigenvalues of about +-1e-16 times the largest instead of 0; their
    square roots (1e-8) would add up to a visible error, so they count as the zeros they are
    (the rank threshold of ``numpy.linalg.matrix_rank``)."""
    top = float(np.max(np.abs(eigenvalues), initial=0.0))
    floor = top * len(eigenvalues) * np.finfo(np.float64).eps
    return np.where(eigenvalues > floor, eigenvalues, 0.0)
