"""experiments/extend.py: a study run trained on past its schedule is, where the trained epochs' rates
agree, bit for bit the run the longer schedule trains from scratch; the study is only read; a stopped
extension goes on; bad commands are one line before anything is written."""
import json
import os
import subprocess
import sys

import pytest

from experiments import extend, rerun
from experiments.study_eval import METRICS_FILE, read_results
from experiments.study_lock import LOCK_FILE
from experiments.study_worker import STOPPED
from runs import layout
from tests.experiments.quick_study import ROOT, copy_of, status, study
from util.errors import OptionError, UserError


def _extend(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, 'experiments/extend.py', *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, env=dict(os.environ, OMP_NUM_THREADS='1'))


@pytest.fixture(scope='module')
def two_and_four(tmp_path_factory):
    """vgg_s0 trained 2 epochs at a constant rate, and the same run trained 4 from scratch."""
    folders = {}
    for epochs in (2, 4):
        out = tmp_path_factory.mktemp(f'niter{epochs}')
        done = study(out, '--configs', 'vgg', '--seeds', '0', '--jobs', '1', '--threads', '1',
                     '--niter', str(epochs), '--niter_decay', '0')
        assert done.returncode == 0, done.stdout + done.stderr
        folders[epochs] = str(out)
    return folders


def test_an_extension_is_the_longer_schedule_trained_from_scratch_bit_for_bit(two_and_four, tmp_path):
    short = os.path.join(two_and_four[2], 'runs', 'vgg_s0')
    before = {name: os.path.getmtime(os.path.join(short, name)) for name in os.listdir(short)}
    into = tmp_path / 'ext'
    done = _extend('--study', two_and_four[2], '--run', 'vgg_s0', '--into', str(into), '--niter', '4')
    assert done.returncode == 0, done.stdout + done.stderr
    assert 'note:' not in done.stdout  # every epoch at the full rate under both schedules
    extended = os.path.join(into, 'runs', 'vgg_s0')
    result = rerun.compare(os.path.join(two_and_four[4], 'runs', 'vgg_s0'), extended)
    assert [e['epoch'] for e in result['epochs']] == [1, 2, 3, 4]
    assert result['identical'] and all(e['same_weights'] is True for e in result['epochs'])
    rows = read_results(extended)
    assert [r['total_images'] for r in rows] == [2, 4, 6, 8]
    table = [line for line in done.stdout.splitlines() if line.startswith('| ')]
    assert [line.split(' | ')[0] for line in table[2:]] == ['| 1', '| 2', '| 3*', '| 4*']
    assert f"{rows[3]['texture_error']:.3f}" in table[-1] and f"{rows[3]['swd']:.2f}" in table[-1]
    assert {name: os.path.getmtime(os.path.join(short, name)) for name in os.listdir(short)} == before
    assert status(str(into), 'vgg_s0')['extended_from']['epoch'] == 3
    assert os.listdir(os.path.join(into, 'tensorboard', 'vgg_s0'))  # the copied log goes on


def test_a_stopped_extension_goes_on_with_the_same_command(two_and_four, tmp_path, monkeypatch):
    into = str(tmp_path / 'ext')
    argv = ['--study', two_and_four[2], '--run', 'vgg_s0', '--into', into, '--niter', '3', '--threads', '1']
    real_run = extend.study_worker.run_in_foreground
    monkeypatch.setattr(extend.study_worker, 'run_in_foreground', lambda *a: 143)
    with pytest.raises(UserError, match=r'^the extension of vgg_s0 stopped with status 143 .*same command goes on'):
        extend.main(argv)
    assert status(into, 'vgg_s0')['state'] == STOPPED
    with pytest.raises(OptionError, match='holds a study with other settings'):
        extend.main(argv[:-4] + ['--niter', '5'])
    monkeypatch.setattr(extend.study_worker, 'run_in_foreground', real_run)
    assert extend.main(argv) == 0
    assert [r['epoch'] for r in read_results(os.path.join(into, 'runs', 'vgg_s0'))] == [1, 2, 3]


def test_trained_epochs_at_other_rates_are_named(finished_study, tmp_path, monkeypatch, capsys):
    """The shared study decays over epochs 4-5 (3 + 2); 3 + 4 gives epoch 5 another rate."""
    out = copy_of(finished_study[0], tmp_path)
    open(os.path.join(out, 'runs', 'vgg_s0', LOCK_FILE), 'w').write('{}')  # a stale lock is not copied
    monkeypatch.setattr(extend.study_worker, 'run_in_foreground', lambda *a: 0)
    into = str(tmp_path / 'ext')
    assert extend.main(['--study', out, '--run', 'vgg_s0', '--into', into, '--niter', '3', '--niter_decay', '4']) == 0
    said = capsys.readouterr().out
    assert 'note: epochs 5 of vgg_s0 trained at other learning rates' in said
    copied = os.path.join(into, 'runs', 'vgg_s0')
    assert not os.path.exists(os.path.join(copied, LOCK_FILE))
    assert open(os.path.join(copied, METRICS_FILE)).read() == open(os.path.join(out, 'runs', 'vgg_s0',
                                                                                METRICS_FILE)).read()
    plan = json.load(open(os.path.join(into, 'plan.json')))
    assert [r['name'] for r in plan['runs']] == ['vgg_s0']
    assert plan['runs'][0]['train_args'][-8:-4] == ['--seed', '0', '--name', 'vgg_s0']
    assert extend.Schedule.of(plan['runs'][0]['train_args'])[1:] == (3, 4)


@pytest.mark.parametrize('change, argv, message', [
    (None, ['--run', 'nope_s0', '--niter', '9'], r"/study has no run 'nope_s0': it has vgg_s0, patchnce_s0"),
    (None, ['--niter', '3'], r'--niter 3 --niter_decay 2 is 5 epochs, and vgg_s0 has trained 5: give a longer'),
    ('latest', ['--niter', '9'], r'has no latest snapshot \(latest_train_state.pth\)'),
    ('into', ['--niter', '9'], 'is not empty and holds no extension'),
    ('build', ['--niter', '9'], r'vgg_s0 of this study ran on another build .*--allow_mixed'),
])
def test_bad_commands_are_refused_before_anything_is_written(finished_study, tmp_path, change, argv, message):
    out = copy_of(finished_study[0], tmp_path)
    run = os.path.join(out, 'runs', 'vgg_s0')
    into = tmp_path / 'ext'
    if change == 'latest':
        os.remove(layout.state_file(run, 'latest'))
    elif change == 'into':
        into.mkdir()
        (into / 'notes.txt').write_text('mine')
    elif change == 'build':
        path = os.path.join(run, layout.PROVENANCE)
        entries = json.load(open(path))
        entries[0]['commit'] = '0' * 40
        json.dump(entries, open(path, 'w'))
    args = ['--study', out, '--into', str(into)] + (argv if argv[0] == '--run' else ['--run', 'vgg_s0'] + argv)
    with pytest.raises(OptionError, match=message):
        extend.main(args)
    left = sorted(os.listdir(into)) if into.exists() else []
    assert left == (['notes.txt'] if change == 'into' else [])
