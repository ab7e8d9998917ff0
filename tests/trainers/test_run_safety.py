"""No run is lost or spoiled by a refused or mistaken command, a full disk, or a diverging run;
and no run finishes "successfully" having done nothing."""
import errno
import hashlib
import os
import subprocess
import sys

import pytest
import torch

from options.train_options import TrainOptions
from runs import layout, snapshot
from trainers.divergence import TrainingDiverged
from trainers.loop import train
from util import provenance
from util.errors import CheckpointError, DatasetError, OptionError, UserError

from helpers import REPO, tiny_args


def run(args) -> int:
    """train.py in this process: options are recorded only once the run has started."""
    options = TrainOptions()
    opt = options.parse(args, verbose=False)
    return train(opt, options.option_files())


def fingerprint(folder) -> dict:
    """name -> SHA-256 of every file under ``folder`` (tensorboard events included)."""
    found = {}
    for dirpath, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(dirpath, name)
            found[os.path.relpath(path, folder)] = hashlib.sha256(open(path, 'rb').read()).hexdigest()
    return found


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """A finished one-epoch run, copied fresh for each test that may damage it."""
    root = tmp_path_factory.mktemp('runs')
    assert run(tiny_args(root, 'done')) == 0
    return root


def copy_run(trained, tmp_path):
    import shutil
    shutil.copytree(trained / 'done', tmp_path / 'done')
    return tmp_path / 'done'


def test_training_over_an_existing_run_is_refused_and_changes_nothing(trained, tmp_path):
    folder = copy_run(trained, tmp_path)
    before = fingerprint(folder)
    with pytest.raises(OptionError, match=r'already holds a trained run .*--continue_train.*--overwrite_run'):
        run(tiny_args(tmp_path, 'done', '--ngf', '8'))
    assert fingerprint(folder) == before


def without_synthetic_size(args):
    i = args.index('--synthetic_train_size')
    return args[:i] + args[i + 2:]


@pytest.mark.parametrize('change, error', [
    (['--ngf', '8'], CheckpointError),  # does not fit the checkpoints
    (['--dataset_mode', 'custom', '--label_dir', '/no/such/labels', '--image_dir', '/no/such/images',
      '--label_nc', '8'], DatasetError),  # the data moved
])
def test_a_refused_continue_leaves_the_run_and_its_options_as_they_were(trained, tmp_path, change, error):
    folder = copy_run(trained, tmp_path)
    before = fingerprint(folder)
    with pytest.raises(error):
        run(without_synthetic_size(tiny_args(tmp_path, 'done', '--niter', '2', '--continue_train', *change)))
    assert fingerprint(folder) == before
    TrainOptions().parse(['--name', 'done', '--checkpoints_dir', str(tmp_path), '--load_from_opt_file'],
                         verbose=False)  # the good run still loads its options


def test_overwrite_run_starts_afresh_without_stale_files(tmp_path):
    assert run(tiny_args(tmp_path, 'again', '--niter', '2', '--save_epoch_freq', '1')) == 0
    assert (tmp_path / 'again' / '2_net_G.pth').exists()
    assert run(tiny_args(tmp_path, 'again', '--overwrite_run')) == 0
    names = set(os.listdir(tmp_path / 'again'))
    assert '2_net_G.pth' not in names and '1_net_G.pth' in names
    assert torch.load(tmp_path / 'again' / 'latest_train_state.pth', weights_only=True)['total_images'] == 8
    assert (tmp_path / 'again' / 'loss_log.txt').read_text().count('Training Loss') == 1  # old log gone


def test_continuing_a_finished_run_says_there_is_nothing_to_do(trained, tmp_path, capsys):
    folder = copy_run(trained, tmp_path)
    before = {k: v for k, v in fingerprint(folder).items() if k.endswith('.pth')}
    assert run(tiny_args(tmp_path, 'done', '--continue_train')) == 0
    assert 'has already trained its 1 epochs; nothing to do' in capsys.readouterr().out
    assert {k: v for k, v in fingerprint(folder).items() if k.endswith('.pth')} == before


def test_a_checkpoints_dir_that_is_a_file_is_refused(tmp_path):
    (tmp_path / 'file').write_text('x')
    with pytest.raises(OptionError, match=r'file is a file, so the run folder .* cannot be made'):
        run(tiny_args(tmp_path / 'file', 'x'))


def test_a_tensorboard_dir_that_is_a_file_is_refused(tmp_path):
    (tmp_path / 'tb').write_text('x')
    with pytest.raises(OptionError, match=r'cannot write the training logs: .*tb.*--tb_dir'):
        run(tiny_args(tmp_path, 'x', '--tb_dir', str(tmp_path / 'tb')))


def test_a_full_disk_while_saving_is_one_line_and_the_earlier_snapshot_survives(tmp_path, monkeypatch):
    real_write = snapshot.atomic_write_bytes
    calls = {'n': 0}

    def fill_up(path, payload):
        calls['n'] += 1
        if 'latest_net_D' in path and calls['n'] > 3:  # the first snapshot (3 files) fits
            raise OSError(errno.ENOSPC, 'No space left on device', path)
        real_write(path, payload)

    monkeypatch.setattr(snapshot, 'atomic_write_bytes', fill_up)
    with pytest.raises(CheckpointError, match=r'could not save the latest snapshot: .*latest_net_D.pth: No space '
                                              r'left on device; the snapshot before it is intact'):
        run(tiny_args(tmp_path, 'full'))
    monkeypatch.undo()
    nets, state = snapshot.load_snapshot(str(tmp_path / 'full'), 'latest')  # falls back to the first
    assert state['total_images'] == 4


def test_a_diverging_run_stops_before_saving_non_finite_weights(tmp_path):
    args = tiny_args(tmp_path, 'div', '--lr', '1e4', '--no_TTUR', '--norm_D', 'instance', '--niter', '3',
                     '--save_latest_freq', '2')
    with pytest.raises(TrainingDiverged, match=r'training diverged at iteration \d+ \(losses not finite or above '
                                               r'--max_loss 1e\+06: .*GAN'):
        run(args)
    for name in os.listdir(tmp_path / 'div'):
        if name.endswith('.pth') and 'train_state' not in name:
            state = torch.load(tmp_path / 'div' / name, weights_only=True)
            assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point()), name


def test_the_command_line_reports_a_refusal_in_one_line(trained, tmp_path):
    copy_run(trained, tmp_path)
    proc = subprocess.run([sys.executable, 'train.py'] + tiny_args(tmp_path, 'done'), cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith('train.py: error: ') and 'Traceback' not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_a_full_disk_while_logging_is_one_line(tmp_path, monkeypatch):
    import builtins

    import trainers.visualizer
    calls = {'n': 0}

    def full_after_the_header(path, *args, **kwargs):
        if str(path).endswith('loss_log.txt'):
            calls['n'] += 1
            if calls['n'] > 1:
                raise OSError(errno.ENOSPC, 'No space left on device', str(path))
        return builtins.open(path, *args, **kwargs)

    monkeypatch.setattr(trainers.visualizer, 'open', full_after_the_header, raising=False)
    with pytest.raises(UserError, match=r'cannot write the training log .*loss_log.txt: No space left on device'):
        run(tiny_args(tmp_path, 'log'))


def test_train_py_records_the_build_that_trained_the_run(trained, tmp_path, monkeypatch):
    folder = copy_run(trained, tmp_path)
    history = provenance.read(str(folder / layout.PROVENANCE))
    assert len(history) == 1
    assert history[0]['commit'] == subprocess.run(['git', '-C', REPO, 'rev-parse', 'HEAD'], capture_output=True,
                                                  text=True).stdout.strip()
    assert history[0]['threads'] == torch.get_num_threads() and history[0]['torch'] == torch.__version__
    monkeypatch.setenv(provenance.ISA_LIMIT, 'AVX2')  # resumed under another build: the history grows
    assert run(tiny_args(tmp_path, 'done', '--continue_train', '--niter', '2')) == 0
    assert [e[provenance.ISA_LIMIT] for e in provenance.read(str(folder / layout.PROVENANCE))] == [None, 'AVX2']
    assert run(tiny_args(tmp_path, 'done', '--overwrite_run')) == 0  # trained afresh: the history starts again
    assert [e[provenance.ISA_LIMIT] for e in provenance.read(str(folder / layout.PROVENANCE))] == ['AVX2']
