"""The generator's input, built from a batch: one-hot labels (+ SPADE's dontcare channel),
plus the instance-edge map, or a dense floating-point map (DeepFashion's poses) as it is."""
import argparse

import torch

from data.conventions import label_channels
from util.errors import DatasetError


class InputEncoder:
    """``encode(batch) -> (semantics, real image)``, both on ``device``."""

    def __init__(self, opt: argparse.Namespace, device: torch.device) -> None:
        self.opt, self.device = opt, torch.device(device)
        self.num_labels = label_channels(opt)

    def __call__(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        label = batch['label']
        if label.is_floating_point():
            semantics = label.to(self.device, non_blocking=True).float()
        else:
            check_label_range(label, self.num_labels, self.opt)  # on the CPU: no device sync
            semantics = one_hot(label.to(self.device, non_blocking=True), self.num_labels)
        if not self.opt.no_instance:
            instance = batch['instance']
            if not torch.is_tensor(instance):
                raise DatasetError('this dataset gives no instance maps; add --no_instance')
            semantics = torch.cat((semantics, get_edges(instance.to(self.device, non_blocking=True))), dim=1)
        return semantics, batch['image'].to(self.device, non_blocking=True)


def one_hot(label: torch.Tensor, channels: int) -> torch.Tensor:
    """(B,1,H,W) or (B,H,W) class indices -> (B,channels,H,W) float one-hot."""
    label = label.long()
    if label.dim() == 3:
        label = label.unsqueeze(1)
    b, _, h, w = label.shape
    return torch.zeros(b, channels, h, w, device=label.device).scatter_(1, label, 1.0)


def check_label_range(label: torch.Tensor, channels: int, opt: argparse.Namespace) -> None:
    if label.device.type != 'cpu' or label.numel() == 0:
        return
    low, high = int(label.min()), int(label.max())
    if low < 0 or high >= channels:
        bad = high if high >= channels else low
        raise DatasetError(f'label value {bad} is outside 0..{channels - 1} (--label_nc {opt.label_nc}'
                           f'{" + dontcare" if opt.contain_dontcare_label else ""}); '
                           'check --label_nc and --contain_dontcare_label')


def get_edges(t: torch.Tensor) -> torch.Tensor:
    """1 where a pixel differs from a 4-neighbour in the instance map, as SPADE computes it."""
    edge = torch.zeros(t.shape, dtype=torch.bool, device=t.device)
    horizontal = t[:, :, :, 1:] != t[:, :, :, :-1]
    vertical = t[:, :, 1:, :] != t[:, :, :-1, :]
    edge[:, :, :, 1:] |= horizontal
    edge[:, :, :, :-1] |= horizontal
    edge[:, :, 1:, :] |= vertical
    edge[:, :, :-1, :] |= vertical
    return edge.float()
