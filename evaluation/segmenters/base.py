"""The interface every segmenter used for mIoU / pixel accuracy implements."""
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Optional, Union

import numpy as np
import torch

from evaluation.confusion import IGNORE_INDEX
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

    Subclasses set ``name`` and ``num_classes``, implement :meth:`predict`, and override the
    two label conversions when their classes are numbered differently from the label files
    or from the dataset's label tensors."""
    name: str = 'segmenter'
    num_classes: int

    @abstractmethod
    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """(B,3,H,W) float images in [-1,1] -> (B,H,W) int64 classes in [0, num_classes)."""

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        # quantised like a saved PNG, so in-memory and on-disk evaluations agree
        with torch.no_grad():
            return self.predict(uint8_to_signed(to_uint8(images)))

    def target_from_label_file(self, label: np.ndarray) -> np.ndarray:
        """A label file's raw values (H,W) -> class indices, :data:`IGNORE_INDEX` where a pixel
        is not scored. Default: the file stores class indices; other values are ignored."""
        return _keep_range(np.asarray(label, dtype=np.int64), self.num_classes)

    def target_from_dataset_label(self, label: torch.Tensor) -> torch.Tensor:
        """The dataset's label tensor ((B,1,H,W) or (B,H,W), as the data loader yields it) ->
        (B,H,W) int64 class indices. Default: the tensor holds class indices in [0,
        num_classes) and anything else (SPADE's dontcare = label_nc) is ignored."""
        if label.dim() == 4:
            label = label[:, 0]
        return _keep_range(label.long(), self.num_classes)


def _keep_range(values, num_classes: int):
    out = values.copy() if isinstance(values, np.ndarray) else values.clone()
    out[(values < 0) | (values >= num_classes)] = IGNORE_INDEX
    return out
