"""Evaluation of image folders: generated images against real images (and label maps),
paired by file stem (``ADE_val_00000001.png`` <-> ``ADE_val_00000001.jpg``).

Real images whose size differs from their generated image are resized to it (bicubic), and
label maps likewise (nearest neighbour): metrics are computed at the generated resolution.
"""
import hashlib
import os
import warnings
from typing import Iterator, Optional, Union

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from evaluation import fid_cache
from evaluation.images import (READ_ERRORS, Sample, list_images, one_line, pair_by_stem, printable, read_label,
                               read_rgb, resize_label, resize_rgb, stack_rgb)
from evaluation.settings import EvalSettings
from evaluation.suite import MetricRun, MetricSuite, resolve_metrics
from util.errors import DatasetError, UserError

REAL_PREPROCESS = 'bicubic resize to the generated size'


def evaluate_folders(fake_dir: str, real_dir: str, label_dir: Optional[str] = None, *,
                     dataset_mode: Optional[str] = None, settings: Optional[EvalSettings] = None,
                     device: Union[str, torch.device] = 'cpu', progress: bool = True) -> dict:
    """Every metric that applies (or ``settings.metrics``) for the generated images in
    ``fake_dir``; returns the results dict that :mod:`evaluation.report` prints and writes."""
    settings = settings or EvalSettings()
    label_dir = _used_label_dir(settings, dataset_mode, label_dir)  # option errors before any file is read
    fakes = list_images(fake_dir, '--fake_dir')
    reals = list_images(real_dir, '--real_dir')
    labels = list_images(label_dir, '--label_dir') if label_dir else None
    samples, unused = pair_by_stem(fakes, reals, labels)
    suite = MetricSuite.for_dataset(settings, dataset_mode, have_labels=labels is not None, device=device)
    sizes = [_image_size(sample.fake) for sample in samples]
    if 'swd' in suite.metrics and len(set(sizes)) > 1:
        raise UserError(f"SWD needs generated images of one size, found {len(set(sizes))} sizes in "
                        f"'{printable(fake_dir)}' (leave swd out with --metrics)")
    reference, cache_path = _cached_reference(suite, samples, sizes, real_dir)
    run = suite.start(reference)
    for fake, real, target in _batches(samples, sizes, settings.batch_size, run, progress):
        run.add(fake, real, target=target)
    try:
        results = run.results()
    except ValueError as exc:  # e.g. fewer pixels than SWD's patch needs
        raise UserError(str(exc)) from None
    if cache_path and reference is None:
        fid_cache.save_stats(cache_path, run.real_stats)
    results['info'] = _info(fake_dir, real_dir, label_dir, dataset_mode, suite, unused, reference is not None)
    return results


def _used_label_dir(settings: EvalSettings, dataset_mode: Optional[str], label_dir: Optional[str]) -> Optional[str]:
    """``label_dir`` when mIoU or the texture error will be computed, else None (with a warning
    when one was given, so that label files nobody scores need not pair up)."""
    metrics = resolve_metrics(settings, dataset_mode, have_labels=bool(label_dir))
    readers = [name for metric, name in (('miou', 'mIoU'), ('texture', 'the texture error')) if metric in metrics]
    if readers and not label_dir:
        raise UserError(f"{' and '.join(readers)} need{'s' if len(readers) == 1 else ''} the label maps: give "
                        f"--label_dir (label files named like the generated images)")
    if not readers and label_dir:
        warnings.warn(f"--label_dir '{printable(label_dir)}' is not used: {_why_no_miou(settings, dataset_mode)}")
        return None
    return label_dir


def _why_no_miou(settings: EvalSettings, dataset_mode: Optional[str]) -> str:
    if settings.metrics:
        return 'neither mIoU nor texture is in --metrics'
    if dataset_mode is None:
        return 'mIoU needs --dataset_mode'
    return f'no segmenter for --dataset_mode {dataset_mode}'


def _image_size(path: str) -> tuple[int, int]:
    try:
        with Image.open(path) as image:
            return image.height, image.width
    except READ_ERRORS as exc:
        raise DatasetError(f"cannot read image '{printable(path)}': {one_line(exc)}; replace or remove the file") \
            from None


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
             progress: bool) -> Iterator[tuple]:
    """(fake, real or None, target or None) batches of consecutive same-sized samples."""
    start = 0
    with tqdm(total=len(samples), desc='evaluate', unit='img', disable=not progress) as bar:
        while start < len(samples):
            end = start + 1
            while end < len(samples) and end - start < batch_size and sizes[end] == sizes[start]:
                end += 1
            yield _load_batch(samples[start:end], sizes[start], run.needs_reals, run.suite)
            bar.update(end - start)
            start = end


def _load_batch(samples: list[Sample], size: tuple[int, int], need_reals: bool, suite: MetricSuite) -> tuple:
    fakes = [read_rgb(sample.fake) for sample in samples]
    for sample, fake in zip(samples, fakes):
        if fake.shape[:2] != size:
            raise DatasetError(f"'{printable(sample.fake)}' changed while being evaluated; run again")
    real = stack_rgb([resize_rgb(read_rgb(s.real), size) for s in samples]) if need_reals else None
    target = None
    if suite.labels is not None:
        target = torch.from_numpy(np.stack([_target(suite, s.label, size) for s in samples]))
    return stack_rgb(fakes), real, target


def _target(suite: MetricSuite, path: str, size: tuple[int, int]) -> np.ndarray:
    return resize_label(suite.target_from_file(read_label(path), path), size)


def _info(fake_dir: str, real_dir: str, label_dir: Optional[str], dataset_mode: Optional[str], suite: MetricSuite,
          unused: dict, cached: bool) -> dict:
    info = {'fake_dir': printable(os.path.abspath(fake_dir)), 'real_dir': printable(os.path.abspath(real_dir)),
            'label_dir': printable(os.path.abspath(label_dir)) if label_dir else None, 'dataset_mode': dataset_mode,
            'metrics': list(suite.metrics), 'unpaired_files_ignored': unused}
    if suite.inception is not None:
        info.update(fid_dims=suite.inception.dims, fid_weights=suite.inception.weights_id.rsplit(':', 2)[0],
                    fid_reference_from_cache=cached)
    if suite.segmenter is not None:
        info['segmenter'] = suite.segmenter.name
    if 'swd' in suite.metrics:
        info['swd_seed'] = suite.settings.swd_seed
    return info
