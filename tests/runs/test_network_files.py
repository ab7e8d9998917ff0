"""Network files: SPADE file names, round trip, atomic writes, clear errors for bad files."""
import os

import pytest
import torch

from models import networks
from tests.opt_factory import make_opt
from runs import layout, networks as network_files
from util import fileio
from util.state_dict import read_state_dict
from util.errors import CheckpointError


def tiny_opt(tmp_path, **overrides):
    values = dict(ngf=4, ndf=4, crop_size=64, label_nc=5, contain_dontcare_label=False,
                  checkpoints_dir=str(tmp_path), name='run')
    values.update(overrides)
    return make_opt(**values)


def save_network(net, label, tag, opt):
    path = layout.network_file(layout.run_dir(opt), tag, label)
    network_files.save(net, path)
    return path


def load_network(net, label, tag, opt):
    return network_files.load(net, layout.network_file(layout.run_dir(opt), tag, label), label)


def test_round_trip_uses_spade_file_names(tmp_path, seeded):
    opt = tiny_opt(tmp_path)
    net = networks.define_G(opt, verbose=False)
    path = save_network(net, 'G', 'latest', opt)
    assert path == os.path.join(str(tmp_path), 'run', 'latest_net_G.pth')
    other = networks.define_G(opt, verbose=False)
    load_network(other, 'G', 'latest', opt)
    for key, value in net.state_dict().items():
        assert torch.equal(value, other.state_dict()[key]), key
    assert isinstance(torch.load(path, weights_only=True), dict)  # a plain state dict, as SPADE's


def test_module_prefix_from_wrapped_networks_is_accepted(tmp_path, seeded):
    opt = tiny_opt(tmp_path)
    net = networks.define_D(opt, verbose=False)
    path = tmp_path / 'wrapped.pth'
    torch.save({'module.' + k: v for k, v in net.state_dict().items()}, path)
    other = networks.define_D(opt, verbose=False)
    assert not torch.equal(other.discriminator_0.model0[0].weight, net.discriminator_0.model0[0].weight)
    network_files.load_state(other, torch.load(path), str(path), 'D')
    for key, value in net.state_dict().items():  # loaded, not merely accepted
        assert torch.equal(other.state_dict()[key], value), key


def test_missing_checkpoint_names_path_and_options(tmp_path):
    opt = tiny_opt(tmp_path)
    with pytest.raises(CheckpointError, match=r'latest_net_G\.pth.*--name.*--which_epoch'):
        load_network(networks.define_G(opt, verbose=False), 'G', 'latest', opt)


def test_truncated_checkpoint_is_reported(tmp_path, seeded):
    opt = tiny_opt(tmp_path)
    path = save_network(networks.define_G(opt, verbose=False), 'G', 'latest', opt)
    payload = open(path, 'rb').read()
    with open(path, 'wb') as handle:
        handle.write(payload[: len(payload) // 2])
    with pytest.raises(CheckpointError, match='truncated, corrupt'):
        load_network(networks.define_G(opt, verbose=False), 'G', 'latest', opt)


def test_non_state_dict_file_is_reported(tmp_path):
    path = tmp_path / 'x.pth'
    torch.save([1, 2, 3], path)
    with pytest.raises(CheckpointError, match='does not hold a state dict'):
        read_state_dict(str(path))


DIFFERENCES = ('missing keys', 'unexpected keys', 'shape differences')
G_OPTIONS = ('--label_nc', '--ngf', '--norm_G', '--num_upsampling_layers', '--spade_hidden')
D_OPTIONS = ('--num_D', '--ndf', '--n_layers_D', '--netD', '--norm_D', '--ngf')


def probable(message: str) -> str:
    """The message's 'Probably <options> differs' clause, where the guess is."""
    assert message.count('Probably ') == 1, message
    return message.split('Probably ')[1]


@pytest.mark.parametrize('changed,hint,differences', [
    (dict(label_nc=7), '--label_nc', {'shape differences'}),
    (dict(ngf=8), '--ngf', {'shape differences'}),
    (dict(spade_hidden=16), '--spade_hidden', {'shape differences'}),
    (dict(norm_G='spectralspadeinstance3x3'), '--norm_G (batch vs instance', {'unexpected keys'}),
    (dict(norm_G='spadesyncbatch3x3'), '--norm_G (spectral', {'missing keys', 'unexpected keys'}),
    (dict(num_upsampling_layers='most', crop_size=256), '--num_upsampling_layers',
     {'missing keys', 'shape differences'}),
])
def test_mismatch_names_keys_and_probable_option(tmp_path, changed, hint, differences, seeded):
    opt = tiny_opt(tmp_path)
    save_network(networks.define_G(opt, verbose=False), 'G', 'latest', opt)
    other = networks.define_G(tiny_opt(tmp_path, **changed), verbose=False)
    with pytest.raises(CheckpointError) as info:
        load_network(other, 'G', 'latest', opt)
    message = str(info.value)
    assert 'latest_net_G.pth' in message
    assert {kind for kind in DIFFERENCES if kind in message} == differences
    guess = probable(message)
    # the one option guessed, not a list that would fit any case
    assert [option for option in G_OPTIONS if option in guess] == [hint.split()[0]] and hint in guess


def test_discriminator_mismatch_hints(tmp_path, seeded):
    opt = tiny_opt(tmp_path)
    save_network(networks.define_D(opt, verbose=False), 'D', '5', opt)
    for changed, hint in ((dict(num_D=3), '--num_D'), (dict(num_D=1), '--num_D'), (dict(ndf=8), '--ndf')):
        with pytest.raises(CheckpointError) as info:
            load_network(networks.define_D(tiny_opt(tmp_path, **changed), verbose=False), 'D', '5', opt)
        guess = probable(str(info.value))
        assert [o for o in D_OPTIONS if o in guess] == [hint], guess


@pytest.mark.parametrize('written,loaded,hint', [
    ({}, dict(n_layers_D=3), '--n_layers_D'),
    ({}, dict(netD='n_layer'), '--netD'),
    (dict(netD='n_layer'), dict(netD='n_layer', n_layers_D=3), '--n_layers_D'),
])
def test_discriminator_architecture_mismatch_hints(tmp_path, written, loaded, hint, seeded):
    opt = tiny_opt(tmp_path, **written)
    save_network(networks.define_D(opt, verbose=False), 'D', '5', opt)
    with pytest.raises(CheckpointError) as info:
        load_network(networks.define_D(tiny_opt(tmp_path, **loaded), verbose=False), 'D', '5', opt)
    guess = probable(str(info.value))
    assert [o for o in D_OPTIONS if o in guess] == [hint], guess


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
