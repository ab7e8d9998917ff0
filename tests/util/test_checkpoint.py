"""Checkpoints: SPADE file names, round trip, atomic writes, clear errors for bad files."""
import os

import pytest
import torch

from models import networks
from tests.opt_factory import make_opt
from util import checkpoint, fileio
from util.errors import CheckpointError


def tiny_opt(tmp_path, **overrides):
    values = dict(ngf=4, ndf=4, crop_size=64, label_nc=5, contain_dontcare_label=False,
                  checkpoints_dir=str(tmp_path), name='run')
    values.update(overrides)
    return make_opt(**values)


def test_round_trip_uses_spade_file_names(tmp_path, seeded):
    opt = tiny_opt(tmp_path)
    net = networks.define_G(opt, verbose=False)
    path = checkpoint.save_network(net, 'G', 'latest', opt)
    assert path == os.path.join(str(tmp_path), 'run', 'latest_net_G.pth')
    other = networks.define_G(opt, verbose=False)
    checkpoint.load_network(other, 'G', 'latest', opt)
    for key, value in net.state_dict().items():
        assert torch.equal(value, other.state_dict()[key]), key
    assert isinstance(torch.load(path, weights_only=True), dict)  # a plain state dict, as SPADE's


def test_module_prefix_from_wrapped_networks_is_accepted(tmp_path, seeded):
    opt = tiny_opt(tmp_path)
    net = networks.define_D(opt, verbose=False)
    path = tmp_path / 'wrapped.pth'
    torch.save({'module.' + k: v for k, v in net.state_dict().items()}, path)
    checkpoint.load_state_dict_strict(networks.define_D(opt, verbose=False), torch.load(path), str(path), 'D')


def test_missing_checkpoint_names_path_and_options(tmp_path):
    opt = tiny_opt(tmp_path)
    with pytest.raises(CheckpointError, match=r'latest_net_G\.pth.*--name.*--which_epoch latest'):
        checkpoint.load_network(networks.define_G(opt, verbose=False), 'G', 'latest', opt)


def test_truncated_checkpoint_is_reported(tmp_path, seeded):
    opt = tiny_opt(tmp_path)
    path = checkpoint.save_network(networks.define_G(opt, verbose=False), 'G', 'latest', opt)
    payload = open(path, 'rb').read()
    with open(path, 'wb') as handle:
        handle.write(payload[: len(payload) // 2])
    with pytest.raises(CheckpointError, match='truncated, corrupt'):
        checkpoint.load_network(networks.define_G(opt, verbose=False), 'G', 'latest', opt)


def test_non_state_dict_file_is_reported(tmp_path):
    path = tmp_path / 'x.pth'
    torch.save([1, 2, 3], path)
    with pytest.raises(CheckpointError, match='does not hold a state dict'):
        checkpoint.read_state_dict(str(path))


@pytest.mark.parametrize('changed,hint', [
    (dict(label_nc=7), '--label_nc'),
    (dict(ngf=8), '--ngf'),
    (dict(norm_G='spectralspadeinstance3x3'), '--norm_G'),
    (dict(norm_G='spadesyncbatch3x3'), '--norm_G'),
    (dict(num_upsampling_layers='most', crop_size=256), '--num_upsampling_layers'),
])
def test_mismatch_names_keys_and_probable_option(tmp_path, changed, hint, seeded):
    opt = tiny_opt(tmp_path)
    checkpoint.save_network(networks.define_G(opt, verbose=False), 'G', 'latest', opt)
    other = networks.define_G(tiny_opt(tmp_path, **changed), verbose=False)
    with pytest.raises(CheckpointError) as info:
        checkpoint.load_network(other, 'G', 'latest', opt)
    message = str(info.value)
    assert 'latest_net_G.pth' in message and hint in message
    assert 'missing keys' in message or 'shape differences' in message or 'unexpected keys' in message


def test_discriminator_mismatch_hints(tmp_path, seeded):
    opt = tiny_opt(tmp_path)
    checkpoint.save_network(networks.define_D(opt, verbose=False), 'D', '5', opt)
    with pytest.raises(CheckpointError, match='--num_D'):
        checkpoint.load_network(networks.define_D(tiny_opt(tmp_path, num_D=3), verbose=False), 'D', '5', opt)
    with pytest.raises(CheckpointError, match='--ndf'):
        checkpoint.load_network(networks.define_D(tiny_opt(tmp_path, ndf=8), verbose=False), 'D', '5', opt)


def test_atomic_save_keeps_old_file_when_the_write_crashes(tmp_path, monkeypatch):
    path = str(tmp_path / 'latest_net_G.pth')
    fileio.atomic_torch_save({'w': torch.ones(3)}, path)

    def crash(*args, **kwargs):
        raise OSError('disk full (simulated)')

    monkeypatch.setattr(os, 'fsync', crash)
    with pytest.raises(OSError, match='simulated'):
        fileio.atomic_torch_save({'w': torch.zeros(3)}, path)
    assert torch.equal(torch.load(path, weights_only=True)['w'], torch.ones(3))
    assert os.listdir(tmp_path) == ['latest_net_G.pth']  # no temporary file left behind


def test_atomic_open_leaves_nothing_on_exception(tmp_path):
    path = str(tmp_path / 'opt.json')
    with pytest.raises(RuntimeError):
        with fileio.atomic_open(path, 'w') as handle:
            handle.write('half')
            raise RuntimeError('killed mid-write')
    assert os.listdir(tmp_path) == []
