"""CSAIL's ADE20K UPerNet-101 (``mit-semseg``), the segmenter behind ADE20K mIoU in the
semantic image synthesis literature.

Compatibility with current torch, without touching the installed package:
- we never import ``mit_semseg.lib.utils.data`` (it imports ``torch._six`` and
  ``torch._utils._accumulate``, both removed); the networks do not need it;
- we build the encoder from ``mit_semseg.models.resnet.resnet101(pretrained=False)`` instead of
  ``ModelBuilder.build_encoder``, which downloads ImageNet weights whenever ``weights=''``;
- we load the checkpoints ourselves, ``weights_only=True`` and strictly (the package loads with
  ``strict=False`` and would accept any file); the only keys allowed to be missing are
  BatchNorm buffers that depend on the torch / package version that saved the file and do not
  take part in inference (``num_batches_tracked`` and the synchronized BatchNorm's
  ``_tmp_running_mean``, ``_tmp_running_var``, ``_running_iter``).

Test protocol (the CSAIL repository's multi-scale evaluation, applied to generated images; see
evaluation/README.md): the image is normalised with ImageNet's mean and std and, for each
short side in ``scales`` (default 300, 375, 450, 525, 600; the long side capped at 1000),
resized bilinearly to that size rounded up to a multiple of 32; the class probabilities of
every scale are upsampled to the image's own size and averaged; the arg-max is the prediction.
"""
import os
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from evaluation.labels import ADE20K_CLASSES
from evaluation.segmenters.base import Segmenter, SegmenterSettings
from util.imagenet import IMAGENET_MEAN, IMAGENET_STD
from util.errors import CheckpointError, UserError
from util.state_dict import compare, read_state_dict

ENCODER_FILE = 'encoder_epoch_50.pth'
DECODER_FILE = 'decoder_epoch_50.pth'
RELEASE_URL = 'http://sceneparsing.csail.mit.edu/model/pytorch/ade20k-resnet101-upernet/'
NUM_CLASSES = ADE20K_CLASSES
DEFAULT_SCALES = (300, 375, 450, 525, 600)
MAX_LONG_SIDE = 1000
PADDING = 32  # the network's largest stride: input sides are rounded up to a multiple of it
OPTIONAL_BUFFERS = ('num_batches_tracked', '_tmp_running_mean', '_tmp_running_var', '_running_iter')


def build_networks() -> tuple[nn.Module, nn.Module]:
    """(encoder, decoder) with untrained weights; nothing is downloaded."""
    from mit_semseg.models import models as semseg, resnet
    encoder = semseg.Resnet(resnet.resnet101(pretrained=False))
    decoder = semseg.ModelBuilder.build_decoder(arch='upernet', fc_dim=2048, num_class=NUM_CLASSES,
                                                weights='', use_softmax=True)
    return encoder, decoder


def load_strict(module: nn.Module, path: str) -> None:
    """Loads the state dict file ``path`` into ``module``; every parameter and running
    statistic must be there with its shape, and nothing else."""
    state = read_state_dict(path, "CSAIL's UPerNet-101 file")
    mismatch = compare(module.state_dict(), state, may_lack=lambda key: key.rsplit('.', 1)[-1] in OPTIONAL_BUFFERS)
    if mismatch:
        raise CheckpointError(f"'{path}' does not fit the {type(module).__name__} network of CSAIL's "
                              f"ADE20K UPerNet-101: {mismatch.describe()}")
    module.load_state_dict(state, strict=False)  # strict apart from the optional buffers, checked above


def scaled_size(height: int, width: int, short_side: int) -> tuple[int, int]:
    """The input size for one test scale: short side ``short_side``, long side at most 1000,
    each side rounded up to a multiple of 32 (as the CSAIL evaluation does)."""
    scale = min(short_side / min(height, width), MAX_LONG_SIDE / max(height, width))
    def round_up(x: float) -> int:
        return max(PADDING, ((int(x) + PADDING - 1) // PADDING) * PADDING)
    return round_up(height * scale), round_up(width * scale)


class UPerNetADE20K(Segmenter):
    """ADE20K's 150 classes, numbered 0..149 (annotation value - 1: see :mod:`evaluation.labels`)."""
    name = 'UPerNet-101 (ADE20K)'
    num_classes = NUM_CLASSES

    def __init__(self, weights_dir: str, device='cpu', scales: Sequence[int] = DEFAULT_SCALES):
        if not weights_dir or not os.path.isdir(weights_dir):
            raise UserError(f"--seg_weights '{weights_dir}' is not a folder: it must hold {ENCODER_FILE} and "
                            f"{DECODER_FILE} from {RELEASE_URL}")
        if not scales or min(scales) < 1:
            raise UserError(f"--seg_scales must be positive sizes, got {tuple(scales)}")
        paths = [os.path.join(weights_dir, name) for name in (ENCODER_FILE, DECODER_FILE)]
        for path in paths:  # before building 80M parameters
            if not os.path.isfile(path):
                raise UserError(f"'{path}' does not exist: download {os.path.basename(path)} from {RELEASE_URL} "
                                f"into the folder given with --seg_weights")
        self.encoder, self.decoder = build_networks()
        load_strict(self.encoder, paths[0])
        load_strict(self.decoder, paths[1])
        self.device = torch.device(device)
        self.encoder.to(self.device).eval()
        self.decoder.to(self.device).eval()
        self.scales = tuple(scales)
        self.mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1)

    @classmethod
    def from_settings(cls, settings: SegmenterSettings) -> 'UPerNetADE20K':
        if not settings.weights:
            raise UserError(f"mIoU on ADE20K needs CSAIL's UPerNet-101: download {ENCODER_FILE} and {DECODER_FILE} "
                            f"from {RELEASE_URL} into a folder and pass --seg_weights FOLDER")
        return cls(settings.weights, settings.device, settings.scales or DEFAULT_SCALES)

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        x = ((images.to(self.device).float() + 1) / 2 - self.mean) / self.std
        height, width = x.shape[2:]
        probs = torch.zeros(x.shape[0], NUM_CLASSES, height, width, device=self.device)
        for short_side in self.scales:
            resized = F.interpolate(x, size=scaled_size(height, width, short_side), mode='bilinear',
                                    align_corners=False)
            features = self.encoder(resized, return_feature_maps=True)
            probs += self.decoder(features, segSize=(height, width)) / len(self.scales)
        return probs.argmax(dim=1).cpu()
