"""The generator inference runs: the EMA copy when training saved one (said in one line), the raw
one with ``--no_ema`` or without a copy; loaded into the given network."""
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn

from runs import layout, networks as network_files
from util.errors import CheckpointError


def run_opt(tmp_path, no_ema=False):
    return SimpleNamespace(checkpoints_dir=str(tmp_path), name='run', no_ema=no_ema)


def write(opt, tag, label, value):
    net = nn.Linear(2, 2)
    nn.init.constant_(net.weight, value)
    network_files.save(net, layout.network_file(layout.run_dir(opt), tag, label))


@pytest.mark.parametrize('no_ema, label, value', [(False, 'G_ema', 2.0), (True, 'G', 1.0)])
def test_the_ema_copy_unless_no_ema(tmp_path, no_ema, label, value):
    opt = run_opt(tmp_path, no_ema)
    write(opt, 5, 'G', 1.0)
    write(opt, 5, 'G_ema', 2.0)
    said, net = [], nn.Linear(2, 2)
    loaded = network_files.load_inference_generator(net, opt, 5, said.append)
    path = layout.network_file(layout.run_dir(opt), 5, label)
    assert loaded == (label, path)
    assert torch.equal(net.weight, torch.full((2, 2), value))
    assert said == ([f'using the EMA generator {path} (--no_ema for the raw one)'] if label == 'G_ema' else [])


def test_the_raw_generator_without_an_ema_copy(tmp_path):
    opt = run_opt(tmp_path)
    write(opt, 'latest', 'G', 3.0)
    write(opt, 5, 'G_ema', 2.0)  # another epoch's copy is not this one's
    net = nn.Linear(2, 2)
    assert network_files.load_inference_generator(net, opt, 'latest', print)[0] == 'G'
    assert torch.equal(net.weight, torch.full((2, 2), 3.0))


def test_check_and_loading_agree_on_the_file(tmp_path):
    opt = run_opt(tmp_path, no_ema=True)
    write(opt, 5, 'G_ema', 2.0)  # only the copy, and --no_ema refuses it: both say so
    with pytest.raises(CheckpointError, match='leave out --no_ema'):
        layout.check_generator_exists(SimpleNamespace(**vars(opt), which_epoch=5))
    with pytest.raises(CheckpointError, match=r'5_net_G\.pth'):
        network_files.load_inference_generator(nn.Linear(2, 2), opt, 5, print)
