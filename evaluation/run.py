"""Evaluation of image folders: generated images against real images (and label maps),
paired by file stem (``ADE_val_00000001.png`` <-> ``ADE_val_00000001.jpg``).

Real images whose size differs from their generated image are resized to it (bicubic), and
label maps likewise (nearest neighbour): metrics are computed at the generated resolution.
"""
import hashlib
import os
from typing import Iterator, Optional, Union

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from evaluation import fid_cache
from evaluation.images import (Sample, list_images, pair_by_stem, read_label, read_rgb, resize_label, resize_rgb,
                               stack_rgb)
from evaluation.segmenters import Segmenter
from evaluation.settings import EvalSettings
from evaluation.suite import MetricRun, MetricSuite
from util.errors import DatasetError, UserError

REAL_PREPROCESS = 'bicubic resize to the generated size'


def evaluate_folders(fake_dir: str, real_dir: str, label_dir: Optional[str] = None, *,
                     dataset_mode: Optional[str] = None, settings: Optional[EvalSettings] = None,
                     device: Union[str, torch.device] = 'cpu', progress: bool = True) -> dict:
    """Every metric that applies (or ``settings.metrics``) for the generated images in
    ``fake_dir``; returns the results dict that :mod:`evaluation.report` prints and writes."""
    settings = settings or EvalSettings()
    fakes = list_images(fake_dir, '--fake_dir')
    reals = list_images(real_dir, '--real_dir')
    labels = list_images(label_dir, '--label_dir') if label_dir else None
    samples, unused = pair_by_stem(fakes, reals, labels)
    if settings.metrics and 'miou' in settings.metrics and labels is None:
        raise UserError('mIoU needs the label maps: give --label_dir')
    suite = MetricSuite.for_dataset(settings, dataset_mode, have_labels=labels is not None, device=device)
    sizes = [_image_size(sample.fake) for sample in samples]
    if 'swd' in suite.metrics and len(set(sizes)) > 1:
        raise UserError(f"SWD needs generated images of one size, found {len(set(sizes))} sizes in "
                        f"'{fake_dir}' (leave swd out with --metrics)")
    reference, cache_path = _cached_reference(suite, samples, sizes, real_dir)
    run = suite.start(reference)
    for fake, real, target in _batches(samples, sizes, settings.batch_size, run, suite.segmenter, progress):
        run.add(fake, real, target=target)
    try:
        results = run.results()
    except ValueError as exc:  # e.g. fewer pixels than SWD's patch needs
        raise UserError(str(exc)) from None
    if cache_path and reference is None:
        fid_cache.save_stats(cache_path, run.real_stats)
    results['info'] = _info(fake_dir, real_dir, label_dir, dataset_mode, suite, unused, reference is not None)
    return results


def _image_size(path: str) -> tuple[int, int]:
    try:
        with Image.open(path) as image:
            return image.height, image.width
    except (OSError, ValueError) as exc:
        raise DatasetError(f"cannot read image '{path}': {exc}") from None


def _cached_reference(suite: MetricSuite, samples: list[Sample], sizes: list[tuple[int, int]],
                      real_dir: str) -> tuple:
    """(cached real statistics or None, where to store them or None)."""
    if suite.inception is None:
        return None, None
    uniform = len(set(sizes)) == 1
    preprocess = REAL_PREPROCESS
    if not uniform:  # each real takes its own generated image's size: key on all of them
        preprocess += ' ' + hashlib.sha256(repr(sizes).encode()).hexdigest()
    return fid_cache.lookup(
        suite.settings.fid_cache_dir, dataset=suite.dataset_mode or 'folder',
        split=os.path.basename(os.path.normpath(real_dir)), size=sizes[0] if uniform else 'mixed',
        files=[sample.real for sample in samples], features=suite.inception, preprocess=preprocess)


def _batches(samples: list[Sample], sizes: list[tuple[int, int]], batch_size: int, run: MetricRun,
             segmenter: Optional[Segmenter], progress: bool) -> Iterator[tuple]:
    """(fake, real or None, target or None) batches of consecutive same-sized samples."""
    start = 0
    with tqdm(total=len(samples), desc='evaluate', unit='img', disable=not progress) as bar:
        while start < len(samples):
            end = start + 1
            while end < len(samples) and end - start < batch_size and sizes[end] == sizes[start]:
                end += 1
            yield _load_batch(samples[start:end], sizes[start], run.needs_reals, segmenter)
            bar.update(end - start)
            start = end


def _load_batch(samples: list[Sample], size: tuple[int, int], need_reals: bool,
                segmenter: Optional[Segmenter]) -> tuple:
    fakes = [read_rgb(sample.fake) for sample in samples]
    for sample, fake in zip(samples, fakes):
        if fake.shape[:2] != size:
            raise DatasetError(f"'{sample.fake}' changed while being evaluated")
    real = stack_rgb([resize_rgb(read_rgb(s.real), size) for s in samples]) if need_reals else None
    target = None
    if segmenter is not None:
        target = torch.from_numpy(np.stack([_target(segmenter, s.label, size) for s in samples]))
    return stack_rgb(fakes), real, target


def _target(segmenter: Segmenter, path: str, size: tuple[int, int]) -> np.ndarray:
    try:
        target = segmenter.target_from_label_file(read_label(path))
    except ValueError as exc:
        raise DatasetError(f"label map '{path}': {exc}") from None
    return resize_label(target, size)


def _info(fake_dir: str, real_dir: str, label_dir: Optional[str], dataset_mode: Optional[str], suite: MetricSuite,
          unused: dict, cached: bool) -> dict:
    info = {'fake_dir': os.path.abspath(fake_dir), 'real_dir': os.path.abspath(real_dir),
            'label_dir': os.path.abspath(label_dir) if label_dir else None, 'dataset_mode': dataset_mode,
            'metrics': list(suite.metrics), 'unpaired_files_ignored': unused}
    if suite.inception is not None:
        info.update(fid_dims=suite.inception.dims, fid_weights=suite.inception.weights_id.rsplit(':', 2)[0],
                    fid_reference_from_cache=cached)
    if suite.segmenter is not None:
        info['segmenter'] = suite.segmenter.name
    if 'swd' in suite.metrics:
        info['swd_seed'] = suite.settings.swd_seed
    return info
