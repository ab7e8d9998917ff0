"""SPADE's entry point for inference, kept for scripts written against SPADE:

    model = Pix2PixModel(opt)                   # builds G (and E with --use_vae), loads --which_epoch
    fake = model(data, mode='inference')        # a batch from the data loader -> images in [-1, 1]

The EMA generator is loaded when training saved one (``--no_ema`` for the raw one). Training
does not go through this class: see :mod:`trainers.pix2pix_trainer`, which composes
:class:`models.pix2pix_networks.Pix2PixNetworks`, :class:`models.input_encoding.InputEncoder`
and :class:`models.objective.Objective`.
"""
import argparse

import torch
import torch.nn as nn

from models.input_encoding import InputEncoder
from models.objective import generate
from models.pix2pix_networks import Pix2PixNetworks
from runs import layout, networks as network_files
from util.device import pick_device


class Pix2PixModel(nn.Module):
    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
        import models.networks as networks
        networks.modify_commandline_options(parser, is_train)
        if is_train:
            from models.networks import perceptual
            perceptual.modify_commandline_options(parser, is_train)
        return parser

    def __init__(self, opt: argparse.Namespace) -> None:
        super().__init__()
        self.opt = opt
        self.device = pick_device(opt.gpu_ids)
        nets = Pix2PixNetworks(opt, training=False)
        self.netG, self.netE = nets.netG, nets.netE
        self.load(opt.which_epoch)
        self.preprocess_input = InputEncoder(opt, self.device)
        self.to(self.device)

    def load(self, tag) -> None:
        network_files.load_inference_generator(self.netG, self.opt, tag)
        if self.netE is not None:
            network_files.load(self.netE, layout.network_file(layout.run_dir(self.opt), tag, 'E'), 'E')

    def forward(self, data: dict, mode: str = 'inference') -> torch.Tensor:
        if mode != 'inference':
            raise ValueError(f"Pix2PixModel only runs inference (mode 'inference'), not '{mode}': "
                             'training goes through trainers.pix2pix_trainer.Pix2PixTrainer')
        semantics, real = self.preprocess_input(data)
        with torch.no_grad():
            return generate(self.netG, self.netE, semantics, real)[0]
