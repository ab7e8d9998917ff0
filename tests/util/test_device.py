"""The device a process runs on, from --gpu_ids."""
import pytest
import torch

from util.device import pick_device
from util.errors import OptionError


def test_device_from_gpu_ids():
    assert pick_device([]) == torch.device('cpu')
    if not torch.cuda.is_available():
        with pytest.raises(OptionError, match='--gpu_ids 0,1 asks for GPUs but CUDA is not available'):
            pick_device([0, 1])
