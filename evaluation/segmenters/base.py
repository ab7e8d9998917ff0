"""The interface every segmenter used for mIoU / pixel accuracy implements."""
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Optional, Union

import torch

from evaluation.images import to_uint8, uint8_to_signed


@dataclass(frozen=True)
class SegmenterSettings:
    """What a segmenter factory gets: ``weights`` is ``--seg_weights`` (a file or folder, as
    the segmenter documents), ``scales`` the test scales (``--seg_scales``) where it has them."""
    weights: Optional[str] = None
    device: Union[str, torch.device] = 'cpu'
    scales: Optional[tuple[int, ...]] = None


class Segmenter(ABC):
    """A pretrained (or exact) segmenter that scores generated images against label maps.

    Subclasses set ``name`` and ``num_classes`` and implement :meth:`predict`. How a dataset's
    label values map to these classes is not the segmenter's business but the dataset mode's
    (:mod:`evaluation.labels`), so label files and the data loader's tensors agree."""
    name: str = 'segmenter'
    num_classes: int

    @abstractmethod
    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """(B,3,H,W) float images in [-1,1] -> (B,H,W) int64 classes in [0, num_classes)."""

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        # quantised like a saved PNG, so in-memory and on-disk evaluations agree
        with torch.no_grad():
            return self.predict(uint8_to_signed(to_uint8(images)))
