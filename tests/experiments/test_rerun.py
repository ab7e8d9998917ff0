"""experiments/rerun.py: a study run trained again from its plan agrees bit for bit (same build,
same threads); a difference is shown and makes the exit status 1; bad commands are one line."""
import json
import os
import subprocess
import sys

import pytest

from experiments import rerun
from experiments.study_eval import METRICS_FILE
from tests.experiments.quick_study import ROOT, copy_of
from util.errors import OptionError, UserError


def test_a_run_trained_again_is_bit_for_bit_the_same(finished_study, tmp_path):
    out, _ = finished_study
    into = tmp_path / 'again'
    done = subprocess.run([sys.executable, 'experiments/rerun.py', '--study', str(out), '--run', 'vgg_s0',
                           '--into', str(into), '--json', str(tmp_path / 'c.json')],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert 'bit for bit: yes' in done.stdout
    result = json.load(open(tmp_path / 'c.json'))
    assert [e['epoch'] for e in result['epochs']] == [1, 2, 3, 4, 5]
    assert all(e['same_weights'] is True for e in result['epochs'])
    assert all(a == b and a is not None for e in result['epochs'] for a, b in e['metrics'].values())
    assert result['builds']['rerun'][0]['threads'] == result['builds']['study'][0]['threads'] == 1


def test_a_difference_is_shown_and_fails(finished_study, tmp_path):
    study = copy_of(finished_study[0], tmp_path)
    path = os.path.join(study, 'runs', 'vgg_s0', METRICS_FILE)
    rows = [json.loads(line) for line in open(path)]
    rows[-1]['swd'] += 0.5  # as if the study had run on another machine
    with open(path, 'w') as f:
        f.writelines(json.dumps(row) + '\n' for row in rows)
    into = tmp_path / 'again'
    assert rerun.main(['--study', study, '--run', 'vgg_s0', '--into', str(into), '--threads', '1']) == 1
    result = rerun.compare(os.path.join(study, 'runs', 'vgg_s0'), os.path.join(into, 'runs', 'vgg_s0'))
    last = result['epochs'][-1]
    assert last['metrics']['swd'][0] == pytest.approx(last['metrics']['swd'][1] + 0.5)
    assert last['same_weights'] is True and not result['identical']
    assert '(-0.5)' in rerun.table(result)
    assert f"| {last['metrics']['miou'][0] * 100!r} (same) |" in rerun.table(result)  # mIoU in % as the report


@pytest.mark.parametrize('args, message', [
    (['--run', 'nope_s0'], "has no run 'nope_s0'"),
    (['--run', 'vgg_s0', '--into', '{study}'], 'is not empty'),
])
def test_bad_commands_are_refused(finished_study, tmp_path, args, message):
    out = str(finished_study[0])
    argv = ['--study', out, '--into', str(tmp_path / 'x')] + [a.format(study=out) for a in args]
    with pytest.raises(OptionError, match=message):
        rerun.main(argv)


def test_a_rerun_that_stops_early_is_one_line_and_compares_nothing(finished_study, tmp_path, monkeypatch):
    monkeypatch.setattr(rerun.study_worker, 'run_in_foreground', lambda *a: 143)
    with pytest.raises(UserError, match=r'^the rerun of vgg_s0 stopped with status 143 .*nothing was compared'):
        rerun.main(['--study', str(finished_study[0]), '--run', 'vgg_s0', '--into', str(tmp_path / 'x')])
