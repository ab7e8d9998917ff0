"""Pruning snapshots: a pruned epoch keeps what inference needs (the generator it runs, the VAE
encoder), a deleted snapshot loses every file, other snapshots stay loadable; the bytes freed are
those of the files removed."""
import os

import torch

from runs import layout, snapshot


def nets(ema: bool, value: float) -> dict:
    labels = ['G', 'D', 'E', 'heads'] + (['G_ema'] if ema else [])
    return {label: {'weight': torch.full((4,), value)} for label in labels}


def sizes(folder) -> dict:
    return {name: os.path.getsize(os.path.join(folder, name)) for name in os.listdir(folder)}


def test_pruned_epochs_keep_their_inference_files(tmp_path):
    folder = str(tmp_path)
    snapshot.save_snapshot(folder, 1, nets(True, 1.0), {'total_images': 2})
    snapshot.save_snapshot(folder, 2, nets(True, 2.0), {'total_images': 4})
    snapshot.save_snapshot(folder, 3, nets(False, 3.0), {'total_images': 6})  # trained without --ema
    before = sizes(folder)
    freed = snapshot.prune_to_inference(folder, [1, 3])
    after = sizes(folder)
    gone = {'1_net_G.pth', '1_net_D.pth', '1_net_heads.pth', '1_train_state.pth',
            '3_net_D.pth', '3_net_heads.pth', '3_train_state.pth'}
    assert set(before) - set(after) == gone
    assert freed == sum(before[name] for name in gone)
    assert {'1_net_G_ema.pth', '1_net_E.pth', '3_net_G.pth', '3_net_E.pth'} <= set(after)
    states, record = snapshot.load_snapshot(folder, 2)  # an epoch not pruned is whole
    assert record['total_images'] == 4 and torch.equal(states['G_ema']['weight'], torch.full((4,), 2.0))


def test_deleting_the_previous_snapshot_leaves_latest_whole(tmp_path):
    folder = str(tmp_path)
    snapshot.save_snapshot(folder, 'latest', nets(True, 1.0), {'total_images': 2})
    snapshot.save_snapshot(folder, 'latest', nets(True, 2.0), {'total_images': 4})  # the first becomes previous
    before = sizes(folder)
    previous = {name for name in before if name.startswith('previous_')}
    every_file = [layout.network_file(folder, 'previous', label) for label in layout.LABELS]
    assert previous == {os.path.basename(path) for path in every_file + [layout.state_file(folder, 'previous')]}
    assert snapshot.delete_snapshot(folder, 'previous') == sum(before[name] for name in previous)
    assert set(sizes(folder)) == set(before) - previous
    states, record = snapshot.load_snapshot(folder, 'latest')
    assert record['total_images'] == 4 and torch.equal(states['G']['weight'], torch.full((4,), 2.0))
    assert snapshot.delete_snapshot(folder, 'previous') == 0  # nothing left to delete
