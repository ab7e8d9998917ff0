"""Adversarial and VAE losses as SPADE defines them (the perceptual losses live in perceptual.py)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

GAN_MODES = ('hinge', 'ls', 'original', 'w')


class GANLoss(nn.Module):
    """SPADE's GAN objectives on a multiscale discriminator's output.

    ``predictions`` is a list (one entry per discriminator) of lists of features whose last
    element is the prediction map; the loss is averaged over discriminators.
    """

    def __init__(self, gan_mode: str) -> None:
        super().__init__()
        if gan_mode not in GAN_MODES:
            raise ValueError(f'Unexpected gan_mode {gan_mode}')
        self.gan_mode = gan_mode

    def forward(self, predictions: list, target_is_real: bool, for_discriminator: bool = True) -> torch.Tensor:
        losses = [self.single(pred[-1], target_is_real, for_discriminator) for pred in predictions]
        return torch.stack(losses).mean()

    def single(self, pred: torch.Tensor, target_is_real: bool, for_discriminator: bool) -> torch.Tensor:
        pred = pred.float()  # losses in float32 under autocast
        if self.gan_mode == 'original':
            target = torch.full_like(pred, 1.0 if target_is_real else 0.0)
            return F.binary_cross_entropy_with_logits(pred, target)
        if self.gan_mode == 'ls':
            return F.mse_loss(pred, torch.full_like(pred, 1.0 if target_is_real else 0.0))
        if self.gan_mode == 'hinge':
            if not for_discriminator:
                if not target_is_real:
                    raise ValueError("The generator's hinge loss must be aiming for real")
                return -pred.mean()
            return F.relu(1 - pred).mean() if target_is_real else F.relu(1 + pred).mean()
        return -pred.mean() if target_is_real else pred.mean()  # wgan


class KLDLoss(nn.Module):
    """KL divergence of N(mu, exp(logvar)) from N(0, 1), summed as in SPADE."""

    def forward(self, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        mu, logvar = mu.float(), logvar.float()
        return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
