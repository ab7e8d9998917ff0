"""The trainer runs in the precision --amp and --channels_last ask for (util/precision.py)."""
import torch

from helpers import tiny_args
from options.train_options import TrainOptions
from trainers.distributed import Context
from trainers.pix2pix_trainer import Pix2PixTrainer
from util.precision import Precision


def test_the_trainer_s_networks_and_autocast_follow_the_options(tmp_path):
    tiny = tiny_args(tmp_path, 'precision')
    opt = TrainOptions().parse(tiny + ['--amp', 'bf16', '--channels_last'], verbose=False)
    trainer = Pix2PixTrainer(opt, Context())
    assert trainer.precision == Precision('bf16', channels_last=True)
    weights = [p for net in (trainer.nets.netG, trainer.nets.netD) for p in net.parameters() if p.dim() == 4]
    assert weights and all(p.is_contiguous(memory_format=torch.channels_last) for p in weights)
    with trainer.autocast():
        assert torch.is_autocast_enabled('cpu') and torch.get_autocast_dtype('cpu') == torch.bfloat16
    assert not trainer.scaler_G.is_enabled()  # bf16 needs no loss scaling
    plain = Pix2PixTrainer(TrainOptions().parse(tiny, verbose=False), Context())
    assert plain.precision == Precision()
    with plain.autocast():
        assert not torch.is_autocast_enabled('cpu')
