"""Scoring a generator on a dataset split in memory: what ``evaluate.py --name`` and training's
``--eval_freq`` do. Images are generated batch by batch and scored as the files test.py would
write (8-bit, truncated like ``tensor2im``), against the loader's real images and labels.
"""
import argparse
import copy
import warnings
from typing import Callable, Optional

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Subset
from tqdm import tqdm

import data
from models import objective
from evaluation.fid import inception_weights_available
from evaluation.options import settings_from_opt
from evaluation.segmenters import has_segmenter
from evaluation.settings import EvalSettings, applicable_metrics
from evaluation.suite import MetricSuite
from util.errors import UserError


def evaluation_options(opt: argparse.Namespace, phase: str) -> argparse.Namespace:
    """A copy of (training) options that loads ``phase`` deterministically: no flips, no random
    crops (images are resized to the crop size), in order."""
    val = copy.copy(opt)
    val.phase, val.isTrain, val.serial_batches, val.no_flip = phase, False, True, True
    val.load_size = opt.crop_size
    return val


def usable_settings(settings: EvalSettings, dataset_mode: str, explicit: bool) -> EvalSettings:
    """Leaves FID out (with a warning) when Inception weights cannot be had and the user did
    not ask for FID by name; asking for it by name keeps it, so its clear error surfaces."""
    if settings.metrics is not None or inception_weights_available(settings.fid_weights) or explicit:
        return settings
    metrics = tuple(m for m in applicable_metrics(dataset_mode, True, has_segmenter(dataset_mode)) if m != 'fid')
    if not metrics:  # FID was the only metric: keep it, so its error says which file is missing
        return settings
    warnings.warn('FID is left out: no Inception weights (pt_inception-2015-12-05-6726825d.pth) in the torch hub '
                  'cache and no --fid_weights; see evaluation/README.md')
    return EvalSettings(**{**settings.__dict__, 'metrics': metrics})


Preprocess = Callable[[dict], tuple[torch.Tensor, torch.Tensor]]
Generate = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class GeneratorEvaluator:
    """The metric networks and the real images' statistics, prepared once; :meth:`score` then
    generates and scores the first ``max_images`` images of the split.

    ``preprocess(batch) -> (semantics, real)`` is the model's input encoding (one-hot labels,
    instance edges, device)."""

    def __init__(self, opt: argparse.Namespace, phase: str, device: torch.device, preprocess: Preprocess,
                 max_images: Optional[int] = None) -> None:
        self.opt = evaluation_options(opt, phase)
        self.preprocess = preprocess
        full = data.create_dataset(self.opt)
        if not getattr(full, 'has_images', True):
            raise UserError(f'--phase {phase} of --dataset_mode {opt.dataset_mode} has no real images to compare with')
        count = len(full) if max_images is None else min(max_images, len(full))
        self.dataset = Subset(full, range(count)) if count < len(full) else full
        asked = settings_from_opt(opt)
        settings = usable_settings(asked, opt.dataset_mode, explicit=asked.metrics is not None)
        self.suite = MetricSuite.for_dataset(settings, opt.dataset_mode, have_labels=True, device=device)
        self.reference = self._reference_stats(full, phase, count) if 'fid' in self.suite.metrics else None

    def loader(self) -> DataLoader:
        return data.create_dataloader(self.opt, self.dataset, batch_size=self.suite.settings.batch_size)

    def _reference_stats(self, full, phase: str, count: int):
        samples = getattr(full, 'samples', [])[:count]
        files = [s.image for s in samples if isinstance(getattr(s, 'image', None), str)]
        synthetic = ','.join(f'{k}={v}' for k, v in sorted(vars(self.opt).items()) if k.startswith('synthetic_'))
        identity = (f'dataset loader: {self.opt.preprocess_mode} to {self.opt.crop_size}, aspect '
                    f'{self.opt.aspect_ratio}, first {count} {synthetic}')
        return self.suite.reference_stats(split=phase, size=self.opt.crop_size, files=files, preprocess=identity,
                                          images=lambda: (batch['image'] for batch in self.loader()))

    @torch.no_grad()
    def score(self, generate: Generate, progress: bool = False) -> dict:
        """``generate(semantics, real) -> fake`` on the preprocessed inputs of each batch."""
        run = self.suite.start(self.reference)
        for batch in tqdm(self.loader(), desc='evaluate', unit='batch', disable=not progress, leave=False):
            semantics, real = self.preprocess(batch)
            run.add(generate(semantics, real), real=real, label=batch['label'])
        return run.results()


def generator_function(net_g: nn.Module, net_e: Optional[nn.Module] = None) -> Generate:
    """``(semantics, real) -> fake`` with ``net_g`` in eval mode, restoring its mode after."""
    def generate(semantics: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        was_training = net_g.training
        net_g.eval()
        try:
            return objective.generate(net_g, net_e, semantics, real)[0]
        finally:
            net_g.train(was_training)
    return generate
