"""The study's output paths are checked before anything is written: a file or folder in the way
is one line and exit status 2, never a traceback, and nothing lands among the user's files."""
import os
import re
import subprocess
import sys

import pytest

from experiments import study_paths
from experiments.study_paths import check_paths, figure_files
from util.errors import OptionError

from helpers import files_under

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, 'experiments', 'loss_study.py')


@pytest.mark.parametrize('out, report, message', [
    ('a_file', None, r"--out .*a_file is a file, not a folder, so the study folder cannot be made there; "),
    ('a_file/study', None, r"--out .*a_file/study: .*a_file is a file, not a folder"),
    ('mine', None, r'--out .*mine holds other files \(keep.txt\) and no study \(no plan.json\)'),
    ('study', 'mine', r'--report mine is a folder; give the page to write, e.g. --report mine/results.md$'),
    ('study', 'a_file/r.md', r'--report a_file/r.md: .*a_file is a file, not a folder, so the report and its '
                             r'figures \(a_file/r\) cannot be written'),
    ('study', 'page', r'--report page has no extension: its figures go in the folder named like the page'),
    ('a_file', 'mine', r'--out .*a_file is a file'),  # every path is checked, the first refusal is shown
], ids=['out-file', 'out-under-file', 'out-foreign-folder', 'report-folder', 'report-under-file',
        'report-no-extension', 'both'])
def test_a_path_in_the_way_is_one_line_and_nothing_is_written(tmp_path, out, report, message):
    (tmp_path / 'a_file').write_text('x')
    (tmp_path / 'mine').mkdir()
    (tmp_path / 'mine' / 'keep.txt').write_text('my notes')
    before = files_under(tmp_path)
    args = ['--quick', '--configs', 'vgg', '--seeds', '0', '--out', out] + (['--report', report] if report else [])
    result = subprocess.run([sys.executable, SCRIPT, *args], cwd=tmp_path, capture_output=True, text=True,
                            timeout=300, env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('loss_study.py: error: '), result.stderr
    assert re.search(message, lines[0]), lines[0]
    assert files_under(tmp_path) == before and sorted(os.listdir(tmp_path)) == ['a_file', 'mine']


def test_an_earlier_reports_figures_folder_is_written_again(tmp_path):
    out, figures = tmp_path / 'study', tmp_path / 'docs' / 'results'
    figures.mkdir(parents=True)
    for name in figure_files() | {'.miou.png.x1y2.tmp'}:  # an earlier report, one write of it cut short
        (figures / name).write_text('old')
    check_paths(str(out), str(tmp_path / 'docs' / 'results.md'), report_given=True, training=True)
    (figures / 'notes.txt').write_text('mine')  # a folder of the user's own: the figures would land among them
    with pytest.raises(OptionError, match=r'^--report .*results.md: its figures go in .*docs/results, which holds '
                                          r'other files \(notes.txt\); choose another --report$'):
        check_paths(str(out), str(tmp_path / 'docs' / 'results.md'), report_given=True, training=True)


def test_a_folder_without_write_permission_is_refused(tmp_path, monkeypatch):
    locked = tmp_path / 'locked'
    locked.mkdir()
    monkeypatch.setattr(study_paths.os, 'access', lambda path, mode: path != str(locked))  # root writes anywhere
    with pytest.raises(OptionError, match=rf'^--out {locked}/study: no permission to write in {locked}$'):
        check_paths(str(locked / 'study'), str(tmp_path / 'r.md'), report_given=True, training=True)
    with pytest.raises(OptionError, match=rf'^--report {locked}/r.md: no permission to write in {locked}$'):
        check_paths(str(tmp_path / 'study'), str(locked / 'r.md'), report_given=True, training=True)
