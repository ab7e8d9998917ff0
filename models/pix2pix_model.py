"""SPADE's Pix2PixModel: the networks, the input encoding and the losses of one training step.

``forward(data, mode)`` keeps SPADE's modes (generator, discriminator, encode_only, inference)
so SPADE-based scripts keep working; the trainer calls the explicit methods instead.
"""
import argparse
import os
from typing import Optional

import torch
import torch.nn as nn

import models.networks as networks
from util import checkpoint
from util.errors import DatasetError


class Pix2PixModel(nn.Module):
    @staticmethod
    def modify_commandline_options(parser, is_train):
        networks.modify_commandline_options(parser, is_train)
        if is_train:
            from models.networks import perceptual
            perceptual.modify_commandline_options(parser, is_train)
        return parser

    def __init__(self, opt: argparse.Namespace, load: Optional[bool] = None) -> None:
        """Builds G (and D when training, E with ``--use_vae``). Loads ``which_epoch`` at test
        time or with ``--continue_train`` unless ``load`` says otherwise."""
        super().__init__()
        self.opt = opt
        self.device = device_for(opt)
        self.netG = networks.define_G(opt)
        self.netD = networks.define_D(opt) if opt.isTrain else None
        self.netE = networks.define_E(opt) if opt.use_vae else None
        if load if load is not None else (not opt.isTrain or getattr(opt, 'continue_train', False)):
            self.load(opt.which_epoch)
        if opt.isTrain:
            self.criterionGAN = networks.GANLoss(opt.gan_mode)
            self.criterionFeat = nn.L1Loss()
            self.criterionVGG = None if opt.no_vgg_loss else self._perceptual_loss(opt)
            self.KLDLoss = networks.KLDLoss() if opt.use_vae else None
        self.to(self.device)

    @staticmethod
    def _perceptual_loss(opt) -> nn.Module:
        from models.networks.perceptual import PerceptualLoss
        return PerceptualLoss(opt)

    # ------------------------------------------------------------------ SPADE entry point
    def forward(self, data: dict, mode: str):
        input_semantics, real_image = self.preprocess_input(data)
        if mode == 'generator':
            return self.compute_generator_loss(input_semantics, real_image)
        if mode == 'discriminator':
            return self.compute_discriminator_loss(input_semantics, real_image)
        if mode == 'encode_only':
            _, mu, logvar = self.encode_z(real_image)
            return mu, logvar
        if mode == 'inference':
            with torch.no_grad():
                return self.generate_fake(input_semantics, real_image)[0]
        raise ValueError(f'|mode| is invalid: {mode}')

    # ------------------------------------------------------------------ inputs
    def preprocess_input(self, data: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """Moves a batch to the device and builds the generator's input: one-hot labels
        (+ dontcare channel) + instance edges, or a floating-point dense map as it is."""
        label = data['label']
        if label.is_floating_point():
            semantics = label.to(self.device, non_blocking=True).float()
        else:
            check_label_range(label, self.num_label_channels(), self.opt)  # on the CPU: no device sync
            semantics = self.one_hot(label.to(self.device, non_blocking=True))
        if not self.opt.no_instance:
            instance = data['instance']
            if not torch.is_tensor(instance):
                raise DatasetError('this dataset gives no instance maps; add --no_instance')
            semantics = torch.cat((semantics, get_edges(instance.to(self.device, non_blocking=True))), dim=1)
        image = data['image'].to(self.device, non_blocking=True)
        return semantics, image

    def num_label_channels(self) -> int:
        return self.opt.label_nc + (1 if self.opt.contain_dontcare_label else 0)

    def one_hot(self, label: torch.Tensor) -> torch.Tensor:
        label = label.long()
        if label.dim() == 3:
            label = label.unsqueeze(1)
        b, _, h, w = label.shape
        return torch.zeros(b, self.num_label_channels(), h, w, device=label.device).scatter_(1, label, 1.0)

    # ------------------------------------------------------------------ generator side
    def encode_z(self, real_image: torch.Tensor, netE: Optional[nn.Module] = None):
        mu, logvar = (netE if netE is not None else self.netE)(real_image)
        return reparameterize(mu, logvar), mu, logvar

    def generator_forward(self, input_semantics: torch.Tensor, real_image: torch.Tensor,
                          netG: Optional[nn.Module] = None, netE: Optional[nn.Module] = None):
        """Returns (fake image, mu, logvar); mu and logvar are None without ``--use_vae``."""
        z = mu = logvar = None
        if self.opt.use_vae:
            z, mu, logvar = self.encode_z(real_image, netE)
        return (netG if netG is not None else self.netG)(input_semantics, z=z), mu, logvar

    def generate_fake(self, input_semantics: torch.Tensor, real_image: torch.Tensor,
                      compute_kld_loss: bool = False):
        fake, mu, logvar = self.generator_forward(input_semantics, real_image)
        kld = self.KLDLoss(mu, logvar) * self.opt.lambda_kld if compute_kld_loss and mu is not None else None
        return fake, kld

    def compute_generator_loss(self, input_semantics: torch.Tensor, real_image: torch.Tensor):
        """SPADE's generator objective. Returns (dict of weighted loss terms, fake images)."""
        fake, mu, logvar = self.generator_forward(input_semantics, real_image)
        return self.generator_losses(input_semantics, fake, real_image, mu, logvar), fake

    def generator_losses(self, input_semantics: torch.Tensor, fake: torch.Tensor, real: torch.Tensor,
                         mu: Optional[torch.Tensor] = None, logvar: Optional[torch.Tensor] = None,
                         netD: Optional[nn.Module] = None) -> dict:
        """The weighted loss terms of the generator step, each a float32 scalar."""
        losses = {}
        if mu is not None:
            losses['KLD'] = self.KLDLoss(mu, logvar) * self.opt.lambda_kld
        pred_fake, pred_real = self.discriminate(input_semantics, fake, real, netD)
        losses['GAN'] = self.criterionGAN(pred_fake, True, for_discriminator=False)
        if not self.opt.no_ganFeat_loss:
            losses['GAN_Feat'] = self.feature_matching_loss(pred_fake, pred_real)
        if self.criterionVGG is not None:
            losses['VGG'] = self.criterionVGG(fake, real) * self.opt.lambda_vgg
        return losses

    def feature_matching_loss(self, pred_fake: list, pred_real: list) -> torch.Tensor:
        total = torch.zeros((), device=pred_fake[0][0].device)
        for fake_feats, real_feats in zip(pred_fake, pred_real):
            for fake, real in zip(fake_feats[:-1], real_feats[:-1]):  # the last one is the prediction
                total = total + self.criterionFeat(fake.float(), real.detach().float())
        return total * self.opt.lambda_feat / len(pred_fake)

    # ------------------------------------------------------------------ discriminator side
    def compute_discriminator_loss(self, input_semantics: torch.Tensor, real_image: torch.Tensor) -> dict:
        """SPADE's discriminator objective, generating the fakes again without gradients."""
        with torch.no_grad():
            fake, _, _ = self.generator_forward(input_semantics, real_image)
        return self.discriminator_losses(input_semantics, fake, real_image)

    def discriminator_losses(self, input_semantics: torch.Tensor, fake: torch.Tensor, real: torch.Tensor,
                             netD: Optional[nn.Module] = None) -> dict:
        pred_fake, pred_real = self.discriminate(input_semantics, fake.detach(), real, netD)
        return {'D_Fake': self.criterionGAN(pred_fake, False, for_discriminator=True),
                'D_real': self.criterionGAN(pred_real, True, for_discriminator=True)}

    def discriminate(self, input_semantics: torch.Tensor, fake_image: torch.Tensor, real_image: torch.Tensor,
                     netD: Optional[nn.Module] = None) -> tuple[list, list]:
        # fake and real in one batch, so that D's normalisation sees the same statistics
        fake_and_real = torch.cat([torch.cat([input_semantics, fake_image.to(input_semantics.dtype)], dim=1),
                                   torch.cat([input_semantics, real_image], dim=1)], dim=0)
        output = (netD if netD is not None else self.netD)(fake_and_real)
        if torch.is_tensor(output[0]):  # a single n_layer discriminator
            output = [output]
        half = input_semantics.size(0)
        return ([[t[:half] for t in feats] for feats in output],
                [[t[half:] for t in feats] for feats in output])

    # ------------------------------------------------------------------ checkpoints
    def save(self, epoch) -> None:
        checkpoint.save_network(self.netG, 'G', epoch, self.opt)
        if self.netD is not None:
            checkpoint.save_network(self.netD, 'D', epoch, self.opt)
        if self.netE is not None:
            checkpoint.save_network(self.netE, 'E', epoch, self.opt)

    def load(self, epoch) -> None:
        checkpoint.load_network(self.netG, self.generator_label(epoch), epoch, self.opt)
        if self.netD is not None:
            checkpoint.load_network(self.netD, 'D', epoch, self.opt)
        if self.netE is not None:
            checkpoint.load_network(self.netE, 'E', epoch, self.opt)


    def generator_label(self, epoch) -> str:
        """At test time the EMA copy (``<epoch>_net_G_ema.pth``) when training saved one,
        unless ``--no_ema``; otherwise the generator itself."""
        use_ema = not self.opt.isTrain and not getattr(self.opt, 'no_ema', False)
        if use_ema and os.path.isfile(checkpoint.network_path(self.opt, 'G_ema', epoch)):
            print(f'using the EMA generator {checkpoint.network_path(self.opt, "G_ema", epoch)} (--no_ema for the raw one)')
            return 'G_ema'
        return 'G'


def device_for(opt: argparse.Namespace) -> torch.device:
    if getattr(opt, 'device', None):
        return torch.device(opt.device)
    if opt.gpu_ids:
        if not torch.cuda.is_available():
            from util.errors import OptionError
            raise OptionError(f'--gpu_ids {",".join(map(str, opt.gpu_ids))} asks for a GPU but CUDA is not '
                              'available; use --gpu_ids -1 for the CPU')
        return torch.device('cuda', opt.gpu_ids[0])
    return torch.device('cpu')


def check_label_range(label: torch.Tensor, num_channels: int, opt: argparse.Namespace) -> None:
    if label.device.type != 'cpu' or label.numel() == 0:
        return
    low, high = int(label.min()), int(label.max())
    if low < 0 or high >= num_channels:
        bad = high if high >= num_channels else low
        raise DatasetError(f'label value {bad} is outside 0..{num_channels - 1} (--label_nc {opt.label_nc}'
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


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    return torch.randn_like(mu) * torch.exp(0.5 * logvar) + mu
