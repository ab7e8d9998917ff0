"""The report's numbers, recomputed here from the per-run files alone (status and metrics lines):
each configuration's mean ± sample std, the paired differences from patchnce with their Student-t
intervals and their `*` marks, in results.md and summary.json; an epoch's row equals its snapshot
scored directly with evaluate.py; re-scoring when the metric set changes; --report_only."""
import json
import math
import os
import re

import numpy as np
import pytest
import torch
from scipy import stats

import evaluate
from experiments import loss_study, study_plan
from experiments.study_eval import METRICS_FILE, evaluate_run, read_results, study_metrics, unscored_epochs
from experiments.study_report import write_report
from experiments.study_worker import STATUS_FILE
from tests.experiments.quick_study import EPOCHS, copy_of, status

BASELINE = 'patchnce'
# the report's column labels -> metric keys, and the decimals it shows
LABELS = {'FID': 'fid', 'oracle mIoU (%)': 'miou', 'pixel accuracy (%)': 'pixel_acc', 'SWD (x1e3)': 'swd',
          'texture error': 'texture_error'}
DECIMALS = {'texture_error': 3}
PERCENT = ('miou', 'pixel_acc')  # stored as fractions, shown as percentages


# ----------------------------------------------------------------------------- the independent reading
def final_values(out: str) -> dict[str, dict[str, dict[int, float]]]:
    """config -> metric -> seed -> value at the last epoch, from the runs' own files: the runs
    that trained to the end and were scored at the last epoch any trained run reached."""
    plan = json.load(open(os.path.join(out, 'plan.json')))
    last_rows = {}
    for run in plan['runs']:
        folder = os.path.join(out, 'runs', run['name'])
        state = json.load(open(os.path.join(folder, STATUS_FILE))).get('state')
        rows = {}
        path = os.path.join(folder, METRICS_FILE)
        for line in open(path) if os.path.isfile(path) else ():
            row = json.loads(line)
            rows[row['epoch']] = row  # a later line for an epoch replaces an earlier one
        if state == 'trained' and rows:
            last_rows[run['name']] = (run, rows[max(rows)])
    last_epoch = max(row['epoch'] for _, row in last_rows.values())
    values: dict = {config: {} for config in plan['configs']}
    for run, row in last_rows.values():
        if row['epoch'] != last_epoch:
            continue
        for key, value in row.items():
            if key in LABELS.values():
                values[run['config']].setdefault(key, {})[run['seed']] = value * (100 if key in PERCENT else 1)
    return values


def t_interval(differences: list[float]) -> tuple[float, float, float]:
    d = np.array(differences)
    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
    return d.mean(), d.mean() - half, d.mean() + half


def table(text: str, heading: str) -> tuple[list[str], dict[str, list[str]]]:
    """(column labels, row name -> cells) of the Markdown table under ``heading``; marks after a
    row's name (†) are dropped, arrows after a label too."""
    section = text.split(heading, 1)[1].split('\n## ', 1)[0]
    lines = [line for line in section.splitlines() if line.startswith('|')]
    split = [[cell.strip() for cell in line.strip('|').split('|')] for line in lines]
    labels = [re.sub(r' [↑↓]$', '', cell) for cell in split[0]]
    return labels, {row[0].rstrip(' †'): row[1:] for row in split[2:]}


def close(shown: str, value: float, metric: str) -> bool:
    """Whether ``shown`` is ``value`` rounded as the report rounds it."""
    return abs(float(shown) - value) <= 0.5 * 10 ** -DECIMALS.get(metric, 2) + 1e-9


def check_report(out: str, page: str) -> dict:
    """Compares the page's two tables and its summary.json with the numbers recomputed from the
    runs' files; returns those numbers."""
    values = final_values(out)
    text = open(page, encoding='utf-8').read()
    summary = json.load(open(os.path.join(os.path.splitext(page)[0], 'summary.json')))
    assert summary['baseline'] == BASELINE
    labels, rows = table(text, '## Results at the end of training')
    metrics = [LABELS[label] for label in labels[2:]]
    for config, by_metric in values.items():
        seeds = {seed for per_seed in by_metric.values() for seed in per_seed}
        assert rows[config][0] == str(len(seeds))
        for metric, cell in zip(metrics, rows[config][1:]):
            per_seed = by_metric.get(metric, {})
            saved = summary['configs'][config][metric]
            if not per_seed:
                assert cell == 'n/a' and saved['mean'] is None
                continue
            mean, std = np.mean(list(per_seed.values())), np.std(list(per_seed.values()), ddof=1)
            shown_mean, shown_std = cell.split(' ± ')
            assert close(shown_mean, mean, metric) and close(shown_std, std, metric), (config, metric, cell)
            assert {int(s): v for s, v in saved['per_seed'].items()} == pytest.approx(per_seed, rel=1e-12)
            assert (saved['mean'], saved['std'], saved['n']) == (pytest.approx(mean, rel=1e-12),
                                                                 pytest.approx(std, rel=1e-9), len(per_seed))
    labels, rows = table(text, f'## Difference from {BASELINE}')
    assert [LABELS[label] for label in labels[1:]] == metrics
    assert set(rows) == set(values) - {BASELINE}
    for config, cells in rows.items():
        for metric, cell in zip(metrics, cells):
            saved = summary['configs'][config][metric][f'minus_{BASELINE}']
            ours, base = values[config].get(metric, {}), values[BASELINE].get(metric, {})
            seeds = sorted(set(ours) & set(base))
            if not seeds:
                assert cell == 'n/a' and saved is None
                continue
            mean, low, high = t_interval([ours[s] - base[s] for s in seeds])  # configuration minus baseline
            found = re.fullmatch(r'([+-][0-9.]+) \[(-?[0-9.]+), (-?[0-9.]+)\]( \*)?', cell)
            assert found, cell
            assert close(found[1], mean, metric) and close(found[2], low, metric) and close(found[3], high, metric), \
                (config, metric, cell, mean, low, high)
            beyond = low > 0 or high < 0
            assert bool(found[4]) == beyond == saved['excludes_zero'], (config, metric, cell)
            assert (saved['mean'], saved['low'], saved['high'], saved['n']) == (
                pytest.approx(mean, rel=1e-9), pytest.approx(low, rel=1e-9), pytest.approx(high, rel=1e-9),
                len(seeds))
    check_resolution(values, text, summary, metrics)
    return values


def check_resolution(values: dict, text: str, summary: dict, metrics: list[str]) -> None:
    """The smallest detectable difference of each metric: the range over configurations of their
    paired intervals' half-widths, recomputed from the per-seed values."""
    spans = {}
    for metric in metrics:
        halves = []
        for config in values:
            ours, base = values[config].get(metric, {}), values[BASELINE].get(metric, {})
            seeds = sorted(set(ours) & set(base))
            if config != BASELINE and len(seeds) > 1:
                _, low, high = t_interval([ours[s] - base[s] for s in seeds])
                halves.append((high - low) / 2)
        spans[metric] = (min(halves), max(halves)) if halves else None
    shown = table(text, '## What the seed spread can detect')[1] if any(spans.values()) else {}
    by_label = {LABELS[label]: cells[0] for label, cells in shown.items()}
    for metric, span in spans.items():
        saved = summary['detectable_difference'][metric]
        if span is None:
            assert saved is None and metric not in by_label
            continue
        low, high = by_label[metric].split(' to ')
        assert close(low, span[0], metric) and close(high, span[1], metric), (metric, by_label[metric], span)
        assert saved == pytest.approx(list(span), rel=1e-9)


# ----------------------------------------------------------------------------- a study made by hand
SEEDS = (0, 1, 2)
# final values per seed: vgg's mIoU and texture differ from patchnce's by more than the seeds
# spread (an interval excluding 0, of each sign), its pixel accuracy and SWD do not
FINAL = {
    'patchnce': {'miou': (0.70, 0.72, 0.74), 'pixel_acc': (0.80, 0.82, 0.84), 'swd': (40.0, 42.0, 44.0),
                 'texture_error': (0.90, 0.80, 0.85)},
    'vgg': {'miou': (0.71, 0.731, 0.75), 'pixel_acc': (0.78, 0.83, 0.81), 'swd': (41.0, 41.0, 45.0),
            'texture_error': (0.70, 0.61, 0.64)},
}


def hand_made_study(out: str) -> study_plan.Plan:
    """Status and metrics files as the workers write them; epoch 1's values are far from the
    last epoch's, so a table taking the wrong epoch is wrong."""
    plan = study_plan.make_plan({c: f'--perceptual_loss {c}' for c in FINAL}, SEEDS, ('--crop_size', '32'), out)
    study_plan.save_plan(plan, out)
    for run in plan.runs:
        folder = os.path.join(out, 'runs', run.name)
        os.makedirs(folder)
        with open(os.path.join(folder, STATUS_FILE), 'w') as f:
            json.dump({'state': 'trained', 'train_seconds': 60.0, 'eval_seconds': 6.0}, f)
        final = {m: v[SEEDS.index(run.seed)] for m, v in FINAL[run.config].items()}
        with open(os.path.join(folder, METRICS_FILE), 'w') as f:
            for epoch, values in ((1, {m: v / 3 for m, v in final.items()}), (2, final)):
                f.write(json.dumps({'epoch': epoch, 'total_images': 8 * epoch, 'metrics': 'miou,swd,texture',
                                    **values}) + '\n')
    return plan


def test_the_report_shows_the_hand_made_studys_numbers(tmp_path):
    out = str(tmp_path / 'study')
    plan = hand_made_study(out)
    page = str(tmp_path / 'results.md')
    write_report(out, plan, page, {})
    check_report(out, page)
    summary = json.load(open(tmp_path / 'results' / 'summary.json'))
    vgg = summary['configs']['vgg']
    # the four kinds of cell: beyond the seeds above 0 and below, within them either way
    assert vgg['miou']['minus_patchnce']['low'] > 0 and vgg['texture_error']['minus_patchnce']['high'] < 0
    assert not vgg['swd']['minus_patchnce']['excludes_zero'] and not vgg['pixel_acc']['minus_patchnce']['excludes_zero']
    _, rows = table(open(page).read(), '## Difference from patchnce')
    assert rows['vgg'][0].startswith('+1.03 [') and rows['vgg'][0].endswith(' *')  # vgg minus patchnce, not reversed


def test_the_quick_studys_report_shows_its_runs_numbers(finished_study):
    out, _ = finished_study
    values = check_report(str(out), os.path.join(out, 'results.md'))
    assert set(values['boom']) == set()  # failed at once: no number of it counts
    assert values['vgg']['swd'] != values['patchnce']['swd']


# ----------------------------------------------------------------------------- rows and snapshots
def test_an_epochs_row_is_its_snapshot_scored_directly(finished_study, tmp_path):
    out, _ = finished_study
    folder = os.path.join(out, 'runs', 'vgg_s0')
    rows = {row['epoch']: row for row in read_results(folder)}
    assert sorted(rows) == list(range(1, EPOCHS + 1))
    # the scores change over epochs (the toy's EMA generator is still flat grey at some, which
    # score alike): the snapshot checked is one whose scores no other epoch has
    own = [e for e in rows if [r['swd'] for r in rows.values()].count(rows[e]['swd']) == 1]
    assert own and rows[EPOCHS]['swd'] != rows[1]['swd'], rows
    epoch = own[0]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the study's worker scored it (--threads 1)
    try:
        direct = evaluate.main(['model', '--name', 'vgg_s0', '--checkpoints_dir', os.path.join(out, 'runs'),
                                '--load_from_opt_file', '--phase', 'test', '--which_epoch', str(epoch),
                                '--gpu_ids', '-1', '--metrics', study_metrics(), '--out', str(tmp_path / 'm.json')])
    finally:
        torch.set_num_threads(threads)
    assert str(direct['info']['which_epoch']) == str(epoch)
    for metric in ('miou', 'pixel_acc', 'swd', 'texture_error'):
        assert direct[metric] == pytest.approx(rows[epoch][metric], rel=1e-6, abs=1e-9), metric


def test_a_changed_metric_set_scores_those_epochs_again(finished_study, tmp_path):
    out = copy_of(finished_study[0], tmp_path)
    run = study_plan.load_plan(out).run('vgg_s0')
    folder = os.path.join(out, 'runs', run.name)
    lines = open(os.path.join(folder, METRICS_FILE)).read().splitlines()
    before = {row['epoch']: row for row in map(json.loads, lines)}
    old = [{**row, 'metrics': 'miou,swd', 'swd': -1.0} if row['epoch'] in (2, 4) else row
           for row in map(json.loads, lines)]
    for row in old:
        if row['epoch'] in (2, 4):
            del row['texture_error']  # as scored before texture error was a study metric
    with open(os.path.join(folder, METRICS_FILE), 'w') as f:
        f.writelines(json.dumps(row) + '\n' for row in old)
    assert unscored_epochs(folder) == [2, 4] and not loss_study.is_complete(out, run)
    evaluate_run(out, run)
    after = open(os.path.join(folder, METRICS_FILE)).read().splitlines()
    assert after[:EPOCHS] == [json.dumps(row) for row in old] and len(after) == EPOCHS + 2  # two lines added
    rescored = {row['epoch']: row for row in read_results(folder)}
    assert unscored_epochs(folder) == [] and loss_study.is_complete(out, run)
    for epoch in (2, 4):
        assert rescored[epoch]['metrics'] == study_metrics()
        for metric in ('swd', 'texture_error', 'miou'):
            assert rescored[epoch][metric] == pytest.approx(before[epoch][metric], rel=1e-6), (epoch, metric)


def test_report_only_trains_nothing_and_writes_the_same_numbers(finished_study, tmp_path):
    out, _ = finished_study
    runs = os.path.join(out, 'runs')
    snapshot = {(d, n): open(os.path.join(d, n), 'rb').read() for d, _, names in os.walk(runs) for n in names}
    sessions = open(os.path.join(out, 'sessions.json')).read()
    page = str(tmp_path / 'again.md')
    assert loss_study.main(['--out', str(out), '--report_only', '--report', page]) == 0
    assert {(d, n): open(os.path.join(d, n), 'rb').read() for d, _, names in os.walk(runs) for n in names} == snapshot
    assert open(os.path.join(out, 'sessions.json')).read() == sessions  # no session: nothing ran
    assert status(out, 'vgg_s0')['state'] == 'trained'
    check_report(str(out), page)
    ours, theirs = open(page).read(), open(os.path.join(out, 'results.md')).read()
    for heading in ('## Results at the end of training', '## Difference from patchnce', '## Every run'):
        assert table(ours, heading) == table(theirs, heading), heading
    assert json.load(open(tmp_path / 'again' / 'summary.json')) == json.load(open(os.path.join(out, 'results',
                                                                                                  'summary.json')))
