"""Mixed precision and memory format: the rules training, test.py, the painter and export share.

- ``--amp none|bf16|fp16``: the networks run under :func:`torch.autocast` in that type. bf16 runs
  on the CPU and on CUDA; fp16 needs CUDA: CPU autocast in float16 is slow and unvalidated, and
  fp16's narrow range needs loss scaling when training (bf16 has float32's range).
- ``--channels_last``: the networks' weights and their 4-D inputs in channels-last memory (NHWC),
  which cuDNN's convolutions run faster. Those kernels add in another order, so float32 results
  can differ in the last bits.
- Exported models (ONNX, TorchScript) take plain tensors: float32, contiguous (:func:`plain`).
"""
import contextlib
from dataclasses import dataclass
from typing import ContextManager, Optional, Union

import torch
import torch.nn as nn

from util.errors import OptionError

AMP_DTYPES = {'bf16': torch.bfloat16, 'fp16': torch.float16}
AMP_CHOICES = ('none',) + tuple(AMP_DTYPES)
FP16_NEEDS_CUDA = '--amp fp16 needs a CUDA GPU (--gpu_ids); on the CPU use --amp bf16'
Device = Union[torch.device, str]


@dataclass(frozen=True)
class Precision:
    """How the networks run: ``amp`` (one of :data:`AMP_CHOICES`) and ``channels_last``."""
    amp: str = 'none'
    channels_last: bool = False

    def __post_init__(self) -> None:
        if self.amp not in AMP_CHOICES:
            raise OptionError(f"--amp '{self.amp}' is unknown; choose one of {', '.join(AMP_CHOICES)}")

    @classmethod
    def of(cls, opt) -> 'Precision':
        """The precision that ``--amp`` and ``--channels_last`` ask for."""
        return cls(opt.amp, opt.channels_last)

    @property
    def dtype(self) -> Optional[torch.dtype]:
        """The autocast type, None for float32."""
        return AMP_DTYPES.get(self.amp)

    @property
    def scales_losses(self) -> bool:
        """Whether training scales the losses (fp16 gradients underflow without it)."""
        return self.amp == 'fp16'

    def check(self, device: Device) -> None:
        """Refuses, in one line, a precision that ``device`` (or device type) cannot run."""
        if self.amp == 'fp16' and torch.device(device).type != 'cuda':
            raise OptionError(FP16_NEEDS_CUDA)

    def check_gpu_ids(self, gpu_ids) -> None:
        """:meth:`check` for the device that ``--gpu_ids`` names (none: the CPU)."""
        self.check('cuda' if gpu_ids else 'cpu')

    def autocast(self, device: Device) -> ContextManager:
        """The context the networks' forward passes run in on ``device``."""
        self.check(device)
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(torch.device(device).type, dtype=self.dtype)

    def prepare_module(self, module: nn.Module) -> nn.Module:
        """``module`` (changed in place) in this memory format."""
        if self.channels_last:
            module.to(memory_format=torch.channels_last)
        return module

    def prepare_input(self, tensor: torch.Tensor) -> torch.Tensor:
        """A 4-D input in this memory format (the networks' own, see :meth:`prepare_module`)."""
        return tensor.contiguous(memory_format=torch.channels_last) if self.channels_last else tensor

    def flags(self) -> list[str]:
        """The command-line words that ask for this precision (none for float32, contiguous)."""
        return (['--amp', self.amp] if self.dtype is not None else []) + (['--channels_last'] * self.channels_last)


FLOAT32 = Precision()


def plain(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` as exported models and numpy take it: float32, contiguous, without autograd."""
    return tensor.detach().float().contiguous()
