"""The study's report: a Markdown page with the table over seeds, the differences from the
baseline, a plain reading of them, the figures, every run, and how it was made.

Written beside its figures: ``results.md`` + ``results/*.png`` (figures in the folder named
like the page) + ``results/summary.json`` (the same numbers, unrounded). Links to them are
percent-encoded, so any page name works in a viewer. Runs of different builds are refused, or
marked with ``--allow_mixed`` (:mod:`experiments.study_provenance`)."""
import json
import math
import os
from typing import Optional

from experiments import study_figures
from experiments.study_paths import figures_dir
from experiments.study_plan import BASELINE, Plan
from experiments.study_provenance import MARK, Builds, builds, check_report, describe_lineage, distinct
from experiments.study_stats import (METRICS, Difference, RunResult, detectable, final_values, finished, gather,
                                     metrics_present, paired_difference, summarise)
from util import provenance
from util.fileio import atomic_write_text
from util.html import href

PAPER_ORDER = ('vgg', 'patchnce', 'weightnce', 'monce')  # worst to best in the paper's ADE20K FID
PAPER_FID = {'vgg': 33.9, 'patchnce': 33.42, 'weightnce': 32.47, 'monce': 31.62}


def write_report(out: str, plan: Plan, path: str, context: dict, allow_mixed: bool = False) -> str:
    """Writes the page and its figures; returns the page's text. ``context``: the command,
    machine, versions, dates and wall time (see ``loss_study.study_context``). Runs of
    different builds: refused (nothing is written), or marked when ``allow_mixed``."""
    results = gather(out, plan)
    found = builds({r.run.name: r.provenance for r in results if r.started})
    check_report(found, allow_mixed)
    marked = found.marked
    configs = list(plan.configs)
    metrics = metrics_present(results)
    figures = figures_dir(path)
    os.makedirs(figures, exist_ok=True)
    rel = os.path.basename(figures)
    parts = [_header(plan, results, context), _builds(found)]
    parts.append(_table(results, configs, metrics, marked))
    parts.append(_differences(results, configs, metrics, marked))
    parts.append(_resolution(results, configs, metrics))
    parts.append(_reading(results, configs, metrics))
    plots = [m for m in metrics if study_figures.metric_plot(results, configs, m, os.path.join(figures, f'{m}.png'))]
    parts.append('## Curves\n\n' + '\n'.join(f'![{METRICS[m][0]}]({href(f"{rel}/{m}.png")})' for m in plots) + '\n'
                 if plots else '## Curves\n\nNo run has been scored yet.\n')
    caption = study_figures.sample_grid(out, plan, results, configs, os.path.join(figures, 'samples.png'))
    if caption:
        parts.append(f'## The same test label maps, every configuration\n\n{caption}.\n\n'
                     f'![samples]({href(f"{rel}/samples.png")})\n')
    parts.append(_every_run(results, metrics, marked))
    parts.append(_how(plan, context))
    text = '\n'.join(parts)
    atomic_write_text(path, text)
    summary = _summary_json(results, configs, metrics, found)
    atomic_write_text(os.path.join(figures, 'summary.json'), json.dumps(summary, indent=1) + '\n')
    return text


def _fmt(value: float, metric: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return 'n/a'
    return f'{value:.3f}' if metric == 'texture_error' else f'{value:.2f}'


def _signed(value: float, metric: str) -> str:
    return ('+' if value >= 0 else '') + _fmt(value, metric)


def _header(plan: Plan, results: list[RunResult], context: dict) -> str:
    done = sum(r.state == 'trained' for r in results)
    failed = [r.run.name for r in results if r.state == 'failed']
    lines = ['# Loss study on the built-in dataset', '',
             f'{len(plan.configs)} configurations x {len(plan.seeds)} seeds ({", ".join(map(str, plan.seeds))}) '
             f'= {len(plan.runs)} runs with the same data, schedule and seeds; {done} trained to the end'
             + (f', {len(failed)} failed ({", ".join(failed)})' if failed else '') + '. '
             'Every run that was started is listed below; nothing is left out.', '']
    if context.get('vgg_random'):
        lines += ['**Read with care: the VGG19 was untrained** (`--vgg_weights random`; no ImageNet weights '
                  'offline). Every loss here compares random-filter features: a fixed random multi-scale '
                  'feature extractor still measures structure and texture, but not the semantic similarity that '
                  'ImageNet features give, which is what the paper\'s contrastive losses rely on for choosing '
                  'and weighting negatives. These numbers test the machinery and the losses\' behaviour on this '
                  'data; they are not a reproduction of the paper\'s ranking, which needs the real study '
                  '(`--crop_size 256 --gpu_ids 0 --vgg_weights PATH`).', '']
    lines += ['Metrics on the test split: oracle mIoU and pixel accuracy (the built-in dataset\'s exact '
              'chromaticity segmenter: is each region painted in its class\'s colours?), SWD (x1e3, '
              'patch statistics), texture error (each region\'s energy in every class\'s known texture band, '
              'generated vs real: 0 = same textures, 1 = no texture at all, above 1 = wrong textures)'
              + (', FID.' if 'fid' in metrics_present(results) else '. FID is left out: no Inception weights '
                 'offline (it is never estimated without them).'), '']
    return '\n'.join(lines)


def _builds(found: Builds) -> str:
    """Which builds trained the runs, and the rule: one build, or the others marked."""
    rule = ('Runs trained on different builds (commit, uncommitted changes, torch, instruction sets) do not '
            'compare: the report refuses them unless `--allow_mixed` is given, and then marks the runs outside '
            f'the largest group with {MARK}. In the commits, `+` means the tree had uncommitted changes.')
    if not found.groups:
        return f'Builds: no run has started yet. {rule}\n'
    entries = [e for history in found.histories.values() for e in history]
    seen = (f' CPU: {", ".join(sorted({str(e.get("cpu")) for e in entries}))}; torch threads per run: '
            f'{", ".join(sorted({str(e.get("threads")) for e in entries}))}.' if entries else '')
    if not found.mixed:
        first = next(iter(found.groups.values()))[0]
        return f'Builds: every run on one build: {describe_lineage(found.histories[first])}.{seen} {rule}\n'
    groups = '\n'.join(f'- {", ".join(names)}{"" if i == 0 else " " + MARK}: '
                       f'{describe_lineage(found.histories[names[0]])}' for i, names in enumerate(found.groups.values()))
    return (f'**Mixed builds (`--allow_mixed`)**: the runs marked {MARK} were trained or scored on another build '
            f'than the largest group, so differences involving them are partly the build\'s, not the loss\'s.'
            f'{seen} {rule}\n\n{groups}\n')


def _marked(results: list[RunResult], config: str, marked: set[str]) -> str:
    """The mark after a configuration some of whose counted runs are marked."""
    return f' {MARK}' if any(r.run.name in marked for r in finished(results, config)) else ''


def _table(results: list[RunResult], configs: list[str], metrics: list[str], marked: set[str]) -> str:
    head = '| configuration | seeds | ' + ' | '.join(_arrowed(m) for m in metrics) + ' |'
    lines = ['## Results at the end of training (mean ± std over seeds)', '', head,
             '|' + ' --- |' * (len(metrics) + 2)]
    for config in configs:
        cells = []
        for m in metrics:
            s = summarise(list(final_values(results, config, m).values()))
            cells.append('n/a' if s is None else f'{_fmt(s.mean, m)} ± {_fmt(s.std, m)}')
        lines.append(f'| {config}{_marked(results, config, marked)} | {len(finished(results, config))} | '
                     + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def _arrowed(metric: str) -> str:
    label, higher = METRICS[metric]
    return f'{label} {"↑" if higher else "↓"}'


def _differences(results: list[RunResult], configs: list[str], metrics: list[str], marked: set[str]) -> str:
    if BASELINE not in configs:
        return ''
    base = {m: final_values(results, BASELINE, m) for m in metrics}
    lines = [f'## Difference from {BASELINE} (paired by seed, 95% t-interval)', '',
             '| configuration | ' + ' | '.join(_arrowed(m) for m in metrics) + ' |',
             '|' + ' --- |' * (len(metrics) + 1)]
    for config in configs:
        if config == BASELINE:
            continue
        cells = []
        for m in metrics:
            d = paired_difference(final_values(results, config, m), base[m])
            cells.append('n/a' if d is None else f'{_signed(d.mean, m)} [{_fmt(d.low, m)}, {_fmt(d.high, m)}]'
                         + (' *' if d.excludes_zero else ''))
        mark = _marked(results, config, marked) or _marked(results, BASELINE, marked)
        lines.append(f'| {config}{mark} | ' + ' | '.join(cells) + ' |')
    lines += ['', f'Each difference is configuration minus {BASELINE}. '
              '`*`: the interval excludes 0, i.e. the difference exceeds the spread between seeds.']
    return '\n'.join(lines) + '\n'


def _resolution(results: list[RunResult], configs: list[str], metrics: list[str]) -> str:
    """For each metric, the smallest difference from the baseline these seeds can detect."""
    if BASELINE not in configs:
        return ''
    rows = [(m, span) for m in metrics if (span := detectable(results, configs, BASELINE, m))]
    if not rows:
        return ''
    lines = ['## What the seed spread can detect', '',
             f'The half-width of each 95% interval above: a difference from {BASELINE} smaller than it cannot be '
             'told from seed noise with these seeds (more seeds narrow it as 1/sqrt(seeds)).', '',
             '| metric | smallest detectable difference (range over configurations) |', '| --- | --- |']
    lines += [f'| {METRICS[m][0]} | {_fmt(low, m)} to {_fmt(high, m)} |' for m, (low, high) in rows]
    return '\n'.join(lines) + '\n'


def _reading(results: list[RunResult], configs: list[str], metrics: list[str]) -> str:
    """Plain sentences: does the paper's ordering hold, and do differences exceed seed noise."""
    order = [c for c in PAPER_ORDER if c in configs]
    lines = ['## Reading', '']
    if len(order) < 2:
        return '\n'.join(lines + ['The paper\'s four losses are not all in this study.']) + '\n'
    lines.append('The paper ranks the losses (ADE20K FID) ' + ' < '.join(
        f'{c} ({PAPER_FID[c]})' for c in reversed(order)) + ', i.e. MoNCE best and SPADE\'s VGG loss worst.')
    for m in metrics:
        label, higher = METRICS[m]
        means = {c: summarise(list(final_values(results, c, m).values())) for c in order}
        if any(s is None for s in means.values()):
            continue
        ranked = sorted(order, key=lambda c: means[c].mean, reverse=higher)
        holds = ranked == list(reversed(order))
        lines.append(f'- {label}: best to worst {" > ".join(ranked)}; the paper\'s ordering '
                     + ('holds.' if holds else 'does not hold.') + ' ' + _noise(results, order, m))
    return '\n'.join(lines) + '\n'


def _noise(results: list[RunResult], order: list[str], metric: str) -> str:
    if BASELINE not in order:
        return ''
    base = final_values(results, BASELINE, metric)
    beyond = [c for c in order if c != BASELINE and (d := paired_difference(final_values(results, c, metric), base))
              and d.excludes_zero]
    if not beyond:
        return f'No difference from {BASELINE} exceeds the seed noise.'
    return f'Beyond seed noise against {BASELINE}: {", ".join(beyond)}.'


def _every_run(results: list[RunResult], metrics: list[str], marked: set[str]) -> str:
    lines = ['## Every run', '', '| run | state | commit | CPU / instruction sets | threads | train min | eval min | '
             'last epoch | training images | ' + ' | '.join(METRICS[m][0] for m in metrics) + ' |',
             '|' + ' --- |' * (len(metrics) + 9)]
    for r in results:
        final = r.final or {}
        cells = [_fmt(final[m], m) if m in final else '' for m in metrics]
        state = r.state + (f': {r.error}' if r.error else '')
        name = r.run.name + (f' {MARK}' if r.run.name in marked else '')
        lines.append(f'| {name} | {state} | {_build_cells(r.provenance)} | {r.train_seconds / 60:.1f} | '
                     f'{r.eval_seconds / 60:.1f} | {final.get("epoch", "")} | {final.get("total_images", "")} | '
                     + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def _build_cells(history: list[dict]) -> str:
    """commit | CPU / instruction sets | threads, each build of the run's lineage in turn."""
    if not history:
        return ' | '.join(['not recorded'] + [''] * 2)
    entries = distinct(history)
    threads = list(dict.fromkeys(str(e.get('threads')) for e in history))
    return ' | '.join([' → '.join(provenance.commit_label(e) for e in entries),
                       ' → '.join(f'{e.get("cpu")}: {provenance.isa_label(e)}' for e in entries),
                       ' → '.join(threads)])


def _how(plan: Plan, context: dict) -> str:
    lines = ['## How this was made', '', '```bash', context.get('command', ''), '```', '']
    for key in ('date', 'machine', 'torch', 'wall_time', 'jobs'):
        if key in context:
            lines.append(f'- {key.replace("_", " ")}: {context[key]}')
    lines += ['', 'Configurations (train.py options on top of the common ones):', '']
    lines += [f'- `{name}`: `{options}`' for name, options in plan.configs.items()]
    lines += ['', f'Common options: `{" ".join(plan.common)}`', '']
    return '\n'.join(lines)


def _summary_json(results: list[RunResult], configs: list[str], metrics: list[str], found: Builds) -> dict:
    """The page's numbers unrounded: per configuration and metric the final value of every
    seed, mean and sample std, and the paired difference from the baseline; every run's builds."""
    table: dict = {}
    for config in configs:
        table[config] = {}
        for m in metrics:
            values = final_values(results, config, m)
            s = summarise(list(values.values()))
            d = (paired_difference(values, final_values(results, BASELINE, m))
                 if BASELINE in configs and config != BASELINE else None)
            table[config][m] = {'per_seed': values, 'mean': s.mean if s else None, 'std': s.std if s else None,
                                'n': s.n if s else 0, f'minus_{BASELINE}': _difference_json(d)}
    resolution = {m: (list(span) if (span := detectable(results, configs, BASELINE, m)) else None)
                  for m in metrics} if BASELINE in configs else {}
    return {'baseline': BASELINE, 'configs': table, 'detectable_difference': resolution, 'mixed_builds': found.mixed, 'marked': sorted(found.marked),
            'runs': {r.run.name: {'state': r.state, 'builds': r.provenance} for r in results}}


def _difference_json(d: Optional[Difference]) -> Optional[dict]:
    if d is None:
        return None
    finite = {k: (None if math.isnan(v) else v) for k, v in (('mean', d.mean), ('low', d.low), ('high', d.high))}
    return {**finite, 'n': d.n, 'excludes_zero': d.excludes_zero}
