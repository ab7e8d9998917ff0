"""Datasets: SPADE's entry points ``get_option_setter``, ``create_dataset`` and ``create_dataloader``.

Each batch is a dict with ``label`` (B,1,H,W int64 class indices, or B,C,H,W float for a
dense map such as DeepFashion's poses), ``instance`` (B,1,H,W int32, or zeros when
``--no_instance``), ``image`` (B,3,H,W in [-1,1]) and ``path`` (list of str). What a mode's
label values mean (names, colours, dontcare, the segmenter's classes) is its class's ``labels``:
ask :func:`dataset_labels`.
"""
import argparse
import random
from typing import Optional

import numpy as np
import torch
import torch.utils.data

from data.ade20k_dataset import ADE20KDataset
from data.celebahq_dataset import CelebAHQDataset
from data.cityscapes_dataset import CityscapesDataset
from data.coco_dataset import CocoDataset
from data.conventions import DatasetLabels
from data.custom_dataset import CustomDataset
from data.deepfashion_dataset import DeepFashionDataset
from data.synthetic_dataset import SyntheticDataset
from util.errors import DatasetError, choose

DATASETS = {
    'ade20k': ADE20KDataset,
    'celebahq': CelebAHQDataset,
    'cityscapes': CityscapesDataset,
    'coco': CocoDataset,
    'custom': CustomDataset,
    'deepfashion': DeepFashionDataset,
    'synthetic': SyntheticDataset,
}


def _dataset_class(dataset_mode: str) -> type:
    return choose(DATASETS, dataset_mode, 'dataset_mode')


def get_option_setter(dataset_mode: str):
    return _dataset_class(dataset_mode).modify_commandline_options


def dataset_labels(opt: argparse.Namespace) -> DatasetLabels:
    """What the label values of ``opt``'s dataset mode mean (:mod:`data.conventions`)."""
    return _dataset_class(opt.dataset_mode).labels_for(opt)


def dense_input(dataset_mode: str) -> bool:
    """Whether the mode's input is a dense float map of channels (a pose), not class indices:
    known before a run's full options are, so that a command can refuse it first."""
    return _dataset_class(dataset_mode).labels.dense


def create_dataset(opt: argparse.Namespace) -> torch.utils.data.Dataset:
    return _dataset_class(opt.dataset_mode)(opt)


def seed_worker(worker_id: int) -> None:
    """Seed numpy and python's ``random`` from torch's per-worker seed, so that random crops
    and flips repeat from run to run and differ between workers."""
    seed = torch.initial_seed() % 2 ** 32
    np.random.seed(seed)
    random.seed(seed)


def create_dataloader(opt: argparse.Namespace, dataset: Optional[torch.utils.data.Dataset] = None,
                      sampler: Optional[torch.utils.data.Sampler] = None,
                      batch_size: Optional[int] = None,
                      generator: Optional[torch.Generator] = None) -> torch.utils.data.DataLoader:
    """SPADE's loader: shuffled unless --serial_batches (or a ``sampler`` is given), --nThreads
    workers, incomplete last batch dropped when training. ``generator`` (if given) supplies the
    loader's own random draws instead of torch's global generator."""
    if dataset is None:
        dataset = create_dataset(opt)
        print(f"dataset [{type(dataset).__name__}] of size {len(dataset)} was created")
    batch_size = batch_size or opt.batchSize
    drop_last = bool(opt.isTrain)
    samples = len(sampler) if sampler is not None and hasattr(sampler, '__len__') else len(dataset)
    if drop_last and samples < batch_size:
        raise DatasetError(f"{opt.dataroot or opt.dataset_mode}: {samples} training samples, fewer than "
                           f"--batchSize {batch_size}, so no full batch exists; lower --batchSize")
    return torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=sampler is None and not opt.serial_batches, sampler=sampler,
        num_workers=opt.nThreads, drop_last=drop_last, worker_init_fn=seed_worker,
        pin_memory=torch.cuda.is_available(), persistent_workers=opt.nThreads > 0, generator=generator)
