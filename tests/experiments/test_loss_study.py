"""The loss study end to end on a toy scale (--quick): every run trained and scored at every
epoch, the report with its tables and figures, nothing redone when run again, a stopped study
resumed, a failed run reported, a bad configuration refused before anything trains, workers
that end with their study however it ends, and a run never trained by two processes."""
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse

import pytest
from PIL import Image

from experiments import loss_study, study_plan
from experiments.study_eval import METRICS_FILE, read_results
from experiments.study_lock import is_running, read_holder
from experiments.study_report import write_report
from runs import layout
from tests.experiments.quick_study import EPOCHS, ROOT, SCRIPT, SHARED, status, study
from util.errors import UserError

LONGER = ('--synthetic_train_size', '16', '--save_latest_freq', '4')  # 8 iterations per epoch: time to stop it


def test_every_run_is_trained_and_scored_at_every_epoch(finished_study):
    out, _ = finished_study
    for name in ('vgg_s0', 'patchnce_s0', 'vgg_s1', 'patchnce_s1'):
        rows = read_results(os.path.join(out, 'runs', name))
        assert [row['epoch'] for row in rows] == list(range(1, EPOCHS + 1))
        assert [row['total_images'] for row in rows] == [2 * e for e in range(1, EPOCHS + 1)]
        for row in rows:
            assert 0 <= row['miou'] <= 1 and 0 <= row['pixel_acc'] <= 1 and row['swd'] > 0
            assert row['texture_error'] >= 0
            assert 'fid' not in row  # no Inception weights offline: never estimated
        assert status(out, name)['state'] == 'trained'
        folder = os.path.join(out, 'runs', name)  # pruned: what scoring and training on still need stays
        assert os.path.isfile(os.path.join(folder, '1_net_G_ema.pth'))
        assert os.path.isfile(os.path.join(folder, 'latest_train_state.pth'))
        assert not any(os.path.exists(os.path.join(folder, f)) for f in
                       ('1_net_D.pth', '1_train_state.pth', '1_net_G.pth', 'previous_net_G.pth'))
        assert status(out, name)['pruned_bytes'] > 0
        events = os.listdir(os.path.join(out, 'tensorboard', name))
        assert any(e.startswith('events.out.tfevents') for e in events)


def test_the_seeds_and_losses_really_differ(finished_study):
    out, _ = finished_study
    final = {n: read_results(os.path.join(out, 'runs', n))[-1] for n in ('vgg_s0', 'vgg_s1', 'patchnce_s0')}
    assert final['vgg_s0']['swd'] != final['vgg_s1']['swd']
    assert final['vgg_s0']['swd'] != final['patchnce_s0']['swd']


def test_a_failed_run_is_in_the_report(finished_study):
    out, _ = finished_study
    for name in ('boom_s0', 'boom_s1'):
        assert status(out, name)['state'] == 'failed'
        assert 'max_loss' in status(out, name)['error']
    report = open(os.path.join(out, 'results.md')).read()
    assert '| boom_s0 | failed: ' in report and '| boom_s1 | failed: ' in report
    assert '2 failed (boom_s0, boom_s1)' in report


def test_report_tables_figures_and_provenance(finished_study):
    out, _ = finished_study
    report = open(os.path.join(out, 'results.md')).read()
    assert 'the VGG19 was untrained' in report
    assert '| vgg | 2 |' in report and '| patchnce | 2 |' in report and '| boom | 0 |' in report
    assert '## Difference from patchnce' in report and '| vgg | ' in report
    assert 'python experiments/loss_study.py --quick' in report and 'torch:' in report and 'wall time:' in report
    for name in ('miou', 'pixel_acc', 'swd', 'texture_error', 'samples'):
        path = os.path.join(out, 'results', f'{name}.png')
        assert f'results/{name}.png' in report
        with Image.open(path) as image:
            assert image.width > 300 and image.height > 200
    summary = json.load(open(os.path.join(out, 'results', 'summary.json')))
    assert set(summary['configs']['vgg']['miou']['per_seed']) == {'0', '1'}


def test_running_it_again_redoes_nothing(finished_study):
    out, _ = finished_study
    before = {n: (status(out, n), open(os.path.join(out, 'runs', n, METRICS_FILE)).read())
              for n in ('vgg_s0', 'patchnce_s1')}
    again = study(out, *SHARED)
    assert again.returncode == 0, again.stderr
    for name, (state, metrics) in before.items():
        assert status(out, name)['train_seconds'] == state['train_seconds']
        assert open(os.path.join(out, 'runs', name, METRICS_FILE)).read() == metrics
    changed = study(out, '--configs', 'vgg', '--seeds', '0,1')
    assert changed.returncode == 2 and 'holds a study with other settings (configs differ)' in changed.stderr


def test_a_bad_configuration_is_refused_before_anything_trains(tmp_path):
    result = study(tmp_path, '--configs', 'vgg', '--config', 'typo=--perceptual_loss monce --ot_epz 1')
    assert result.returncode == 2
    assert "configuration 'typo'" in result.stderr and '--ot_epz' in result.stderr
    assert not os.path.isdir(os.path.join(tmp_path, 'runs'))


def test_report_links_reach_the_figures_whatever_the_page_is_called(finished_study, tmp_path):
    out, _ = finished_study
    page = os.path.join(tmp_path, 'r #1?%41 caf\udce9.md')  # the last: a Latin-1 byte, not UTF-8
    text = write_report(str(out), study_plan.load_plan(str(out)), page, {})
    links = re.findall(r'!\[[^\]]*\]\(([^)]*)\)', text)
    assert len(links) == 5  # the curves of miou, pixel_acc, swd, texture_error, and the samples
    for link in links:
        assert re.fullmatch(r'[A-Za-z0-9_.~/%-]+', link), link  # '#', '?', ' ' would cut the link short
        assert os.path.isfile(os.path.join(tmp_path, os.fsdecode(urllib.parse.unquote_to_bytes(link)))), link


def wait_for(path: str, process: subprocess.Popen) -> None:
    deadline = time.time() + 300
    while not os.path.isfile(path) and time.time() < deadline and process.poll() is None:
        time.sleep(0.2)
    assert os.path.isfile(path), f'{path} never appeared'


def test_a_study_whose_terminal_closed_stops_its_workers_and_resumes(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    # SIGHUP at its default even when the suite itself runs under nohup (the study keeps an ignored SIGHUP ignored)
    process = subprocess.Popen([sys.executable, SCRIPT, '--quick', '--out', str(tmp_path), '--configs', 'vgg',
                                '--seeds', '0', *LONGER], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL))
    folder = os.path.join(tmp_path, 'runs', 'vgg_s0')
    wait_for(os.path.join(folder, '1_net_G.pth'), process)
    worker = read_holder(folder)  # the worker holds the run's lock while it trains
    process.send_signal(signal.SIGHUP)
    _, err = process.communicate(timeout=300)
    assert process.returncode == 128 + signal.SIGHUP, err
    assert 'run the same command again' in err
    assert not is_running(worker.pid, worker.start) and read_holder(folder) is None  # gone, and let go of the run
    assert status(tmp_path, 'vgg_s0')['state'] == 'stopped'
    again = study(tmp_path, '--configs', 'vgg', '--seeds', '0', *LONGER)
    assert again.returncode == 0, again.stderr
    log = open(os.path.join(tmp_path, 'runs', 'vgg_s0', 'study_log.txt')).read()
    assert 'Resuming from epoch' in log
    rows = read_results(os.path.join(tmp_path, 'runs', 'vgg_s0'))
    assert [row['epoch'] for row in rows] == list(range(1, EPOCHS + 1))
    assert rows[-1]['total_images'] == 5 * 16
    assert len(json.load(open(os.path.join(tmp_path, 'sessions.json')))) == 2
    assert study_plan.load_plan(str(tmp_path)).runs[0].name == 'vgg_s0'


PARENT = ('import subprocess, sys, time\n'
          'worker = subprocess.Popen([sys.executable, "-m", "experiments.study_worker", sys.argv[1], "vgg_s0"],\n'
          '                          stdout=open(sys.argv[2], "w"), stderr=subprocess.STDOUT, start_new_session=True)\n'
          'print(worker.pid, flush=True)\n'
          'time.sleep(600)\n')


def test_a_worker_whose_study_was_killed_stops_and_no_second_study_trains_its_run(tmp_path):
    """A study killed with SIGKILL cannot stop its workers: each notices its parent is gone. While
    one lives, the study started again refuses its run instead of training it a second time."""
    command = ['--quick', '--out', str(tmp_path), '--configs', 'vgg', '--seeds', '0', '--niter', '1000']  # hours
    args, extra = loss_study.parse(command)
    plan = study_plan.make_plan(loss_study.chosen_configs(args), loss_study.chosen_seeds(args),
                                loss_study.common_options(args, extra), str(tmp_path))
    study_plan.save_plan(plan, str(tmp_path))  # the plan the study writes before it starts a worker
    folder = os.path.join(tmp_path, 'runs', 'vgg_s0')
    env = dict(os.environ, OMP_NUM_THREADS='1')
    parent = subprocess.Popen([sys.executable, '-c', PARENT, str(tmp_path), str(tmp_path / 'worker_log.txt')],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    worker = int(parent.stdout.readline())
    try:
        wait_for(os.path.join(folder, '1_net_G.pth'), parent)
        assert read_holder(folder).pid == worker
        with pytest.raises(UserError, match=rf'^vgg_s0 is being trained by process {worker} \(lock file '):
            loss_study.main(command)  # the same study, started again
        assert not os.path.exists(os.path.join(folder, 'study_log.txt'))  # no worker of its own was started
        parent.kill()
        parent.wait()
        deadline = time.time() + 60
        while is_running(worker) and time.time() < deadline:
            time.sleep(0.2)
        assert not is_running(worker), 'the worker trains on without its study'
    finally:
        parent.kill()
        if is_running(worker):
            os.kill(worker, signal.SIGKILL)
    log = open(tmp_path / 'worker_log.txt').read()
    assert 'is gone: stopping' in log and 'stopped by signal 15: saved latest' in log
    assert status(tmp_path, 'vgg_s0')['state'] == 'stopped'
    assert os.path.isfile(layout.state_file(folder, 'latest')) and read_holder(folder) is None


def test_an_empty_configs_list_studies_only_the_given_configurations():
    args, _ = loss_study.parse(['--configs', '', '--config', 'mine=--perceptual_loss monce --batchSize 2'])
    assert loss_study.chosen_configs(args) == {'mine': '--perceptual_loss monce --batchSize 2'}
    args, _ = loss_study.parse(['--config', 'mine=--perceptual_loss monce'])
    assert list(loss_study.chosen_configs(args)) == [*study_plan.DEFAULT_CONFIGS, 'mine']  # no --configs: the paper's four too
