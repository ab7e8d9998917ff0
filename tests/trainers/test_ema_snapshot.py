"""Generator EMA arithmetic and snapshot validity (hashes, rotation, crash in the middle)."""
import os

import pytest
import torch
import torch.nn as nn

from runs import layout, snapshot
from trainers.ema import GeneratorEMA
from util.errors import CheckpointError


def test_ema_follows_the_formula_and_copies_buffers():
    net = nn.BatchNorm1d(3)
    ema = GeneratorEMA(net, decay=0.9, start_iter=2)
    with torch.no_grad():
        net.weight.fill_(2.0)
        net.running_mean.fill_(5.0)
    ema.update(net, iteration=1)  # before start_iter: a plain copy
    assert torch.allclose(ema.shadow.weight, torch.full((3,), 2.0))
    with torch.no_grad():
        net.weight.fill_(4.0)
    ema.update(net, iteration=2)
    assert torch.allclose(ema.shadow.weight, torch.full((3,), 0.9 * 2.0 + 0.1 * 4.0))
    assert torch.equal(ema.shadow.running_mean, net.running_mean)
    assert not ema.shadow.training and not ema.shadow.weight.requires_grad


def nets(value: float) -> dict:
    return {'G': {'w': torch.full((4,), value)}, 'D': {'w': torch.full((2,), -value)}}


def test_snapshot_round_trip_and_rotation(tmp_path):
    run = str(tmp_path)
    snapshot.save_snapshot(run, 'latest', nets(1.0), {'total_steps': 10})
    snapshot.save_snapshot(run, 'latest', nets(2.0), {'total_steps': 20})
    loaded, state = snapshot.load_snapshot(run, 'latest')
    assert state['total_steps'] == 20 and torch.equal(loaded['G']['w'], torch.full((4,), 2.0))
    previous, state = snapshot.load_snapshot(run, 'previous')
    assert state['total_steps'] == 10 and torch.equal(previous['D']['w'], torch.full((2,), -1.0))
    assert torch.load(os.path.join(run, 'latest_net_G.pth'), weights_only=True)['w'][0] == 2.0  # plain state dict


def test_crash_during_rotation_keeps_the_previous_snapshot(tmp_path):
    run = str(tmp_path)
    snapshot.save_snapshot(run, 'latest', nets(1.0), {'total_steps': 10})
    # the next save died after renaming the training state but before moving the network files
    os.replace(layout.state_file(run, 'latest'), layout.state_file(run, 'previous'))
    with pytest.warns(UserWarning, match='falling back to the previous snapshot'):
        loaded, state = snapshot.load_snapshot(run, 'latest')
    assert state['total_steps'] == 10 and torch.equal(loaded['G']['w'], torch.full((4,), 1.0))


def test_a_network_file_changed_after_the_save_is_never_loaded(tmp_path):
    run = str(tmp_path)
    snapshot.save_snapshot(run, 'latest', nets(1.0), {'total_steps': 10})
    snapshot.save_snapshot(run, 'latest', nets(2.0), {'total_steps': 20})
    # a readable state dict, but not the one the training state recorded
    torch.save(nets(9.0)['G'], layout.network_file(run, 'latest', 'G'))
    with pytest.warns(UserWarning, match='falling back to the previous snapshot'):
        loaded, state = snapshot.load_snapshot(run, 'latest')
    assert state['total_steps'] == 10 and torch.equal(loaded['G']['w'], torch.full((4,), 1.0))
    torch.save(nets(9.0)['D'], layout.network_file(run, 'previous', 'D'))
    with pytest.raises(CheckpointError, match='incomplete or corrupt.*net_D'), pytest.warns(UserWarning):
        snapshot.load_snapshot(run, 'latest')  # and the previous one is no better: nothing is loaded


def test_missing_or_foreign_training_state_is_reported(tmp_path):
    run = str(tmp_path)
    with pytest.raises(CheckpointError, match='training state not found'):
        snapshot.load_snapshot(run, '5')
    torch.save({'epoch': 3}, layout.state_file(run, '5'))
    with pytest.raises(CheckpointError, match='not a training state written by this program'):
        snapshot.load_snapshot(run, '5')


def test_spade_iter_file(tmp_path):
    assert snapshot.read_spade_iter_file(str(tmp_path)) is None
    (tmp_path / 'iter.txt').write_text('12\n340\n')  # np.savetxt((epoch, iter), delimiter=',', fmt='%d')
    assert snapshot.read_spade_iter_file(str(tmp_path)) == (12, 340)
    (tmp_path / 'iter.txt').write_text('12,340\n')
    assert snapshot.read_spade_iter_file(str(tmp_path)) == (12, 340)
