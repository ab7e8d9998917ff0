"""The torch device a process runs on, from a list of GPU ids (empty: the CPU)."""
from typing import Sequence

import torch

from util.errors import OptionError


def pick_device(gpu_ids: Sequence[int], local_rank: int = 0, world_size: int = 1) -> torch.device:
    """``cuda:<gpu_ids[local_rank]>``, or the CPU for no ids. Under torchrun with a single id
    each process takes the GPU of its local rank (one process per visible GPU)."""
    if not gpu_ids:
        return torch.device('cpu')
    listed = ','.join(map(str, gpu_ids))
    if not torch.cuda.is_available():
        raise OptionError(f'--gpu_ids {listed} asks for GPUs but CUDA is not available; use --gpu_ids -1 for the CPU')
    if world_size > 1 and len(gpu_ids) == 1:
        return torch.device('cuda', local_rank)
    if local_rank >= len(gpu_ids):
        raise OptionError(f'process {local_rank} has no GPU in --gpu_ids {listed}')
    return torch.device('cuda', gpu_ids[local_rank])
