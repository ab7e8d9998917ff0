"""A DistributedSampler that can start part-way through an epoch, for exact resumption."""
from typing import Iterator

from torch.utils.data import DistributedSampler


class ResumableSampler(DistributedSampler):
    """torch's DistributedSampler (a permutation per ``seed + epoch``, split over ranks) that
    skips the samples this rank already consumed when training resumes mid-epoch."""

    def __init__(self, dataset, num_replicas: int, rank: int, shuffle: bool, seed: int, drop_last: bool) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed,
                         drop_last=drop_last)
        self.skip = 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        super().set_epoch(epoch)
        self.skip = skip

    def __iter__(self) -> Iterator[int]:
        indices = list(super().__iter__())
        return iter(indices[self.skip:])

    def __len__(self) -> int:
        return max(0, self.num_samples - self.skip)
