"""What the training loader draws: which samples, in what order, with what randomness.

Exact resumption needs both to be functions of the run's seed and the position in training,
never of how many processes, workers or restarts came before:

- the order: torch's DistributedSampler permutation per ``seed + epoch``, split over ranks,
  which :class:`ResumableSampler` can start part-way through an epoch;
- the augmentation (random crops, flips): every sample is loaded with python's, numpy's and
  torch's generators seeded from ``(seed, epoch, index)`` (:func:`sample_seed`). Seeding the
  loader's workers once instead would make their streams depend on how many samples each
  worker handled since it started, so a resumed run would replay epoch 1's crops.
"""
import random
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, DistributedSampler


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """A well-mixed 63-bit seed for loading sample ``index`` in ``epoch``."""
    state = np.random.SeedSequence([seed % 2 ** 63, epoch, index]).generate_state(2, dtype=np.uint32)
    return int(state[0]) << 31 | int(state[1]) >> 1


class ResumableSampler(DistributedSampler):
    """torch's DistributedSampler that yields ``(index, seed)`` keys for :class:`SeededSamples`
    and skips the samples this rank already consumed when training resumes mid-epoch."""

    def __init__(self, dataset, num_replicas: int, rank: int, shuffle: bool, seed: int, drop_last: bool) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed,
                         drop_last=drop_last)
        self.skip = 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        super().set_epoch(epoch)
        self.skip = skip

    def __iter__(self) -> Iterator[tuple[int, int]]:
        indices = list(super().__iter__())[self.skip:]
        return iter([(index, sample_seed(self.seed, self.epoch, index)) for index in indices])

    def __len__(self) -> int:
        return max(0, self.num_samples - self.skip)


class SeededSamples(Dataset):
    """``dataset`` read with ``(index, seed)`` keys: the sample is loaded with every global
    generator seeded from ``seed``, and the caller's generator states are put back afterwards,
    so that loading in the main process (``--nThreads 0``) leaves training's randomness as it was."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> dict:
        index, seed = key
        saved = random.getstate(), np.random.get_state(), torch.get_rng_state()
        random.seed(seed)
        np.random.seed(seed % 2 ** 32)
        torch.default_generator.manual_seed(seed)  # the CPU's only: CUDA streams stay training's
        try:
            return self.dataset[index]
        finally:
            random.setstate(saved[0])
            np.random.set_state(saved[1])
            torch.set_rng_state(saved[2])
