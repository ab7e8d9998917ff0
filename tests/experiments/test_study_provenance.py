"""Every study run records the build that trained it (commit, uncommitted changes, torch, CPU and
instruction sets, threads), the report shows it, and runs of different builds are refused, or
marked with --allow_mixed, in the report and before a study trains on."""
import json
import os
import subprocess

import pytest
import torch

from experiments import loss_study, study_plan, study_provenance
from experiments.study_report import write_report
from runs import layout
from tests.experiments.quick_study import ROOT, copy_of
from util import provenance
from util.errors import OptionError

OTHER_COMMIT = 'f' * 40


def git(*args: str) -> str:
    return subprocess.run(['git', '-C', ROOT, *args], capture_output=True, text=True, check=True).stdout


def history(out, name) -> list[dict]:
    with open(os.path.join(out, 'runs', name, layout.PROVENANCE)) as f:
        return json.load(f)


def test_every_run_records_the_build_that_trained_it(finished_study):
    out, _ = finished_study
    head, dirty = git('rev-parse', 'HEAD').strip(), bool(git('status', '--porcelain').strip())
    for name in ('vgg_s0', 'patchnce_s0', 'vgg_s1', 'patchnce_s1', 'boom_s0', 'boom_s1'):
        [entry] = history(out, name)  # one session, one build
        assert (entry['commit'], entry['dirty'], entry['torch']) == (head, dirty, torch.__version__)
        assert entry['threads'] == 1  # --threads 1
        assert entry['cpu_capability'] == torch.backends.cpu.get_cpu_capability()
        assert entry['cpu'] == provenance.cpu_model() and entry['gpu'] is None
        assert isinstance(entry['cpu_flags'], list) and entry[provenance.ISA_LIMIT] is None
    report = open(os.path.join(out, 'results.md')).read()
    label = head[:7] + ('+' if dirty else '')
    assert f'| vgg_s1 | trained | {label} | {entry["cpu"]}: {entry["cpu_capability"]}' in report
    assert f'Builds: every run on one build: commit {label}, torch {torch.__version__}' in report
    assert '--allow_mixed' in report  # the rule is stated
    summary = json.load(open(os.path.join(out, 'results', 'summary.json')))
    assert not summary['mixed_builds'] and summary['runs']['vgg_s0']['builds'] == history(out, 'vgg_s0')


def with_commit(out: str, name: str, commit: str) -> None:
    path = os.path.join(out, 'runs', name, layout.PROVENANCE)
    entries = history(out, name)
    entries[-1]['commit'] = commit
    with open(path, 'w') as f:
        json.dump(entries, f)


def test_a_run_of_another_commit_is_refused_or_marked(finished_study, tmp_path):
    out = copy_of(finished_study[0], tmp_path)
    with_commit(out, 'patchnce_s1', OTHER_COMMIT)
    plan = study_plan.load_plan(out)
    page = str(tmp_path / 'page.md')
    with pytest.raises(OptionError, match=r'^the runs were not all trained on one build \(vgg_s0, patchnce_s0, '
                                          r'boom_s0, vgg_s1 and 1 more: commit .*; patchnce_s1: commit fffffff.*'
                                          r'pass --allow_mixed'):
        write_report(out, plan, page, {})
    assert not os.path.exists(page) and not os.path.exists(tmp_path / 'page')  # nothing half written
    with pytest.raises(OptionError, match='--allow_mixed'):
        loss_study.main(['--out', out, '--report_only', '--report', page])
    assert loss_study.main(['--out', out, '--report_only', '--report', page, '--allow_mixed']) == 0
    text = open(page).read()
    assert '**Mixed builds (`--allow_mixed`)**' in text and '- patchnce_s1 †: commit fffffff' in text
    assert '| patchnce † | 2 |' in text and '| vgg | 2 |' in text  # the configuration that counts it
    assert '| vgg † | ' in text.split('## Difference from patchnce')[1]  # compared with a marked run
    assert '| patchnce_s1 † | trained | fffffff' in text and '| patchnce_s0 | trained |' in text
    summary = json.load(open(tmp_path / 'page' / 'summary.json'))
    assert summary['mixed_builds'] and summary['marked'] == ['patchnce_s1']


def test_a_study_is_not_trained_on_in_another_build(finished_study, tmp_path):
    out = copy_of(finished_study[0], tmp_path)
    for name in ('vgg_s0', 'patchnce_s0'):
        with_commit(out, name, OTHER_COMMIT)
    plan = study_plan.load_plan(out)
    loss_study.check_same_build(out, plan, allow_mixed=False)  # every run is over: nothing would train
    os.remove(os.path.join(out, 'runs', 'vgg_s1', 'study_status.json'))  # as if cut short: it trains on
    with pytest.raises(OptionError, match=r'^vgg_s0, patchnce_s0 of this study ran on another build \(vgg_s0: '
                                          r'commit fffffff.*; this is commit .*pass --allow_mixed'):
        loss_study.check_same_build(out, plan, allow_mixed=False)
    loss_study.check_same_build(out, plan, allow_mixed=True)


def entry(commit: str, capability: str = 'AVX512', threads: int = 1) -> dict:
    return {'commit': commit, 'dirty': False, 'torch': '2.4.0', 'cpu': 'some CPU', 'cpu_capability': capability,
            'cpu_flags': [], provenance.ISA_LIMIT: None, 'threads': threads, 'gpu': None}


def test_runs_compare_when_their_builds_followed_the_same_lineage():
    trained_then_rescored = [entry('a' * 40), entry('b' * 40)]  # a new metric: every run scored again at b
    found = study_provenance.builds({'x_s0': trained_then_rescored, 'y_s0': list(trained_then_rescored),
                                     'z_s0': [entry('a' * 40), entry('a' * 40, threads=2)]})  # threads: shown only
    assert found.mixed and found.marked == {'z_s0'}
    assert not study_provenance.builds({'x_s0': trained_then_rescored, 'y_s0': trained_then_rescored}).mixed
    other_isa = study_provenance.builds({'x_s0': [entry('a' * 40)], 'y_s0': [entry('a' * 40, 'AVX2')],
                                         'z_s0': [entry('a' * 40)]})
    assert other_isa.marked == {'y_s0'}  # the largest group is the reference
    unrecorded = study_provenance.builds({'x_s0': [], 'y_s0': []})  # trained before builds were recorded
    assert not unrecorded.mixed and study_provenance.builds({'x_s0': [], 'y_s0': [entry('a' * 40)]}).mixed
