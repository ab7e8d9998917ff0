"""The loss study's pieces that need no training: the plan, the job layout, the statistics."""
import argparse
import math
import os
import shlex
import signal

import numpy as np
import pytest
import torch
from scipy import stats

from experiments import loss_study, study_plan, study_stats
from experiments.study_worker import resume_args
from util.errors import OptionError


def test_plan_is_seed_major_and_runs_differ_only_in_config_and_seed(tmp_path):
    configs = {'a': '--perceptual_loss vgg', 'b': '--perceptual_loss monce --lambda_vgg 5'}
    plan = study_plan.make_plan(configs, (3, 7), ('--crop_size', '32'), str(tmp_path))
    assert [r.name for r in plan.runs] == ['a_s3', 'b_s3', 'a_s7', 'b_s7']
    b7 = plan.run('b_s7').train_args
    assert b7[:2] == ('--crop_size', '32')
    assert b7[2:6] == ('--perceptual_loss', 'monce', '--lambda_vgg', '5')
    assert b7[b7.index('--seed') + 1] == '7'
    assert b7[b7.index('--checkpoints_dir') + 1] == os.path.join(str(tmp_path), 'runs')
    assert b7[b7.index('--tb_dir') + 1] == os.path.join(str(tmp_path), 'tensorboard', 'b_s7')


def test_plan_round_trips_and_a_changed_study_is_refused(tmp_path):
    out = str(tmp_path)
    plan = study_plan.make_plan({'a': '--perceptual_loss vgg'}, (0, 1), ('--crop_size', '32'), out)
    study_plan.save_plan(plan, out)
    assert study_plan.load_plan(out) == plan
    study_plan.check_same_plan(plan, out)  # the same command continues the study
    other = study_plan.make_plan({'a': '--perceptual_loss vgg'}, (0, 1, 2), ('--crop_size', '32'), out)
    with pytest.raises(OptionError, match=r'other settings \(seeds differ\)'):
        study_plan.check_same_plan(other, out)


@pytest.mark.parametrize('text', ['=--lr 1', 'no_equals', 'bad name=--lr 1', "x='unbalanced"])
def test_bad_config_texts_are_refused(text):
    with pytest.raises(OptionError):
        study_plan.parse_config(text)


def test_config_text_is_split():
    assert study_plan.parse_config("mine=--perceptual_loss monce --ot_eps 0.5") == \
        ('mine', '--perceptual_loss monce --ot_eps 0.5')


def layout(jobs=None, threads=None, on_gpu=False, cores=2, monkeypatch=None):
    monkeypatch.setattr(os, 'sched_getaffinity', lambda pid: set(range(cores)))
    return loss_study.job_layout(argparse.Namespace(jobs=jobs, threads=threads), on_gpu)


def test_job_layout_never_oversubscribes(monkeypatch):
    assert layout(cores=2, monkeypatch=monkeypatch) == (2, 1)
    assert layout(jobs=1, cores=2, monkeypatch=monkeypatch) == (1, 2)
    assert layout(threads=2, cores=16, monkeypatch=monkeypatch) == (8, 2)
    assert layout(on_gpu=True, cores=16, monkeypatch=monkeypatch) == (1, 16)
    with pytest.raises(OptionError, match='oversubscribed'):
        layout(jobs=2, threads=2, cores=2, monkeypatch=monkeypatch)
    with pytest.raises(OptionError, match='--jobs must be >= 1'):
        layout(jobs=0, cores=2, monkeypatch=monkeypatch)


def test_option_value_takes_the_last_occurrence():
    args = ('--gpu_ids', '0', '--lr', '1', '--gpu_ids=1')
    assert study_plan.option_value(args, '--gpu_ids', '-1') == '1'
    assert study_plan.option_value(('--lr', '1'), '--gpu_ids', '-1') == '-1'


def test_paired_difference_matches_the_t_interval():
    base = {0: 10.0, 1: 20.0, 2: 30.0}
    other = {0: 11.0, 1: 22.0, 2: 33.0, 5: 99.0}  # seed 5 has no partner and is ignored
    d = study_stats.paired_difference(other, base)
    assert d.n == 3 and d.mean == pytest.approx(2.0)
    half = stats.t.ppf(0.975, 2) * 1.0 / math.sqrt(3)  # differences 1, 2, 3: sd 1
    assert (d.low, d.high) == (pytest.approx(2 - half), pytest.approx(2 + half))
    assert not d.excludes_zero  # 2 - 2.48 < 0
    tight = study_stats.paired_difference({0: 11.0, 1: 21.1, 2: 31.0}, base)
    assert tight.excludes_zero
    single = study_stats.paired_difference({0: 12.0}, base)
    assert single.n == 1 and math.isnan(single.low) and not single.excludes_zero


def test_summary_uses_the_sample_standard_deviation():
    s = study_stats.summarise([1.0, 2.0, 4.0])
    assert s.mean == pytest.approx(7 / 3) and s.std == pytest.approx(np.std([1, 2, 4], ddof=1)) and s.n == 3
    assert study_stats.summarise([5.0]).std == 0.0
    assert study_stats.summarise([]) is None


def test_resume_args_follow_the_run_folder(tmp_path):
    folder = str(tmp_path)
    assert resume_args(folder) == []
    (tmp_path / '1_net_G.pth').write_bytes(b'x')
    assert resume_args(folder) == ['--overwrite_run']  # files but no snapshot to resume from
    (tmp_path / 'latest_train_state.pth').write_bytes(b'x')
    assert resume_args(folder) == ['--continue_train']


def test_the_study_stops_on_a_closed_terminal_unless_started_to_outlive_it():
    def handler(signum, frame) -> None:
        pass

    before = {s: signal.getsignal(s) for s in loss_study.STOP_SIGNALS}
    try:
        for s in loss_study.STOP_SIGNALS:  # a suite run in the background starts with SIGINT ignored
            signal.signal(s, signal.SIG_DFL)
        loss_study.catch_stop_signals(handler)
        assert all(signal.getsignal(s) is handler for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP))
        signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as nohup starts it
        replaced = loss_study.catch_stop_signals(handler)
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN and signal.SIGHUP not in replaced
    finally:
        for s, previous in before.items():
            signal.signal(s, previous)


@pytest.mark.parametrize('where, option, hint', [
    ('common', '--checkpoints_dir=elsewhere', r'--checkpoints_dir: the study sets it for each run; the runs go in '
                                              r'OUT/runs: choose OUT with --out'),
    ('common', '--tb_dir', r'--tb_dir: .*choose OUT with --out'),
    ('config', '--seed', r"--seed in configuration 'a': the study sets it for each run; use --seeds"),
    ('config', '--continue_train', r"--continue_train in configuration 'a': .*continues its runs by itself"),
])
def test_options_the_study_sets_itself_are_refused(tmp_path, where, option, hint):
    config = '--perceptual_loss vgg' + (f' {option} 1' if where == 'config' else '')
    common = ('--crop_size', '32') + ((option, 'x') if where == 'common' else ())
    with pytest.raises(OptionError, match=f'^{hint}'):
        study_plan.make_plan({'a': config}, (0,), common, str(tmp_path))


def test_the_gpu_study_is_the_cpu_one_at_128_px_on_gpu_0(monkeypatch):
    args, extra = loss_study.parse(['--gpu'])
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    with pytest.raises(OptionError, match='no CUDA GPU'):
        loss_study.common_options(args, extra)
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    common = loss_study.common_options(args, ['--vgg_weights', 'random'])
    assert common[:len(shlex.split(study_plan.COMMON))] == tuple(shlex.split(study_plan.COMMON))
    assert [study_plan.option_value(common, o, '') for o in ('--crop_size', '--load_size', '--gpu_ids')] == \
        ['128', '128', '0']
    assert loss_study.job_layout(args, on_gpu=True)[0] == 1  # one run at a time on the one GPU
