"""The built-in synthetic dataset's exact segmenter (colour classification, no network)."""
import torch

from evaluation.segmenters.base import Segmenter, SegmenterSettings


class OracleSegmenter(Segmenter):
    """Wraps :func:`data.synthetic.oracle_segment`; label maps hold class indices directly."""
    name = 'synthetic oracle'

    def __init__(self, device='cpu'):
        from data import synthetic  # the data package is heavy and only needed here
        self._segment = synthetic.oracle_segment
        self.num_classes = synthetic.NUM_CLASSES
        self.device = torch.device(device)

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        return self._segment(images.to(self.device)).long()

    @classmethod
    def from_settings(cls, settings: SegmenterSettings) -> 'OracleSegmenter':
        return cls(settings.device)
