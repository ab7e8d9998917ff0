"""Trains one run of a study again from its recorded plan, in another folder, and compares it
with the study's: every scored epoch's metrics and every kept generator snapshot, tensor by tensor.

    python experiments/rerun.py --study checkpoints/loss_study --run patchnce_s0 --into /tmp/rerun

The run is trained and scored by the study's own worker with the study's exact train.py
options, at the thread count its first recorded build used (``--threads`` to choose another).
On the same build (commit, torch, instruction sets: see ``<run>/provenance.json``) and thread
count a run is deterministic, so everything should agree bit for bit; on another machine, or
with the kernels limited (``ONEDNN_MAX_CPU_ISA=AVX2``, ``ATEN_CPU_CAPABILITY=default``), the
table shows how far its figures move. Exit status 0 when all agree exactly, 1 when anything
differs (the table says what), 2 on a bad command.
"""
import argparse
import json
import math
import os
import sys
from typing import Optional

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run as a script

from evaluation.options import positive_int  # noqa: E402
from experiments import study_worker  # noqa: E402
from experiments.study_eval import read_results, run_folder  # noqa: E402
from experiments.study_plan import Plan, load_plan, make_plan, save_plan  # noqa: E402
from experiments.study_provenance import recorded_threads  # noqa: E402
from experiments.study_stats import METRICS, PERCENT  # noqa: E402
from runs import layout  # noqa: E402
from util import provenance  # noqa: E402
from util.entry import run_cli  # noqa: E402
from util.errors import OptionError, UserError  # noqa: E402
from util.state_dict import identical, read_state_dict  # noqa: E402


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog='experiments/rerun.py', description=__doc__.split('\n\n')[0])
    parser.add_argument('--study', required=True, help='the study folder (its --out)')
    parser.add_argument('--run', required=True, help='the run to train again, e.g. patchnce_s0')
    parser.add_argument('--into', required=True, help='a new folder for the rerun (a study of that one run)')
    parser.add_argument('--threads', type=positive_int, default=None,
                        help="torch threads [default: those of the run's first recorded build]")
    parser.add_argument('--json', default=None, help='also write the comparison here')
    return parser.parse_args(argv)


def retrain(plan: Plan, study: str, name: str, into: str, threads: int) -> str:
    """The run trained and scored again as a one-run study in ``into``; returns its folder."""
    run = plan.run(name)
    again = make_plan({run.config: plan.configs[run.config]}, (run.seed,), plan.common, into)
    if again.runs[0].train_args[:-4] != run.train_args[:-4]:  # all but the two folders must be the study's
        raise OptionError(f'{study}/plan.json: the run {name} was not made from its configuration and seed')
    if os.path.exists(into) and os.listdir(into):
        raise OptionError(f'--into {into} is not empty: give a new folder')
    save_plan(again, into)
    print(f'training {name} again in {into} with {threads} thread(s) ...', flush=True)
    code = study_worker.run_in_foreground(into, name, threads)
    if code != 0:
        raise UserError(f'the rerun of {name} stopped with status {code} before it was scored (its log is above); '
                        f'nothing was compared')
    return run_folder(into, again.runs[0])


def compare(study_folder: str, rerun_folder: str) -> dict:
    """Per scored epoch: the metrics of both and whether the kept generators are equal."""
    ours = {row['epoch']: row for row in read_results(study_folder)}
    again = {row['epoch']: row for row in read_results(rerun_folder)}
    epochs = []
    for epoch in sorted(set(ours) | set(again)):
        a, b = ours.get(epoch, {}), again.get(epoch, {})
        metrics = {m: (a.get(m), b.get(m)) for m in METRICS if m in a or m in b}
        epochs.append({'epoch': epoch, 'metrics': metrics, 'same_weights': _same_generator(study_folder,
                                                                                           rerun_folder, epoch)})
    return {'epochs': epochs, 'identical': bool(epochs) and all(
        e['same_weights'] is not False and all(_equal(*pair) for pair in e['metrics'].values()) for e in epochs)}


def _equal(a, b) -> bool:
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))


def _same_generator(a_folder: str, b_folder: str, epoch: int):
    """True/False for the inference generators of ``epoch`` in both folders; None when either is gone."""
    for label in ('G_ema', 'G'):
        a, b = layout.network_file(a_folder, epoch, label), layout.network_file(b_folder, epoch, label)
        if os.path.isfile(a) and os.path.isfile(b):
            return identical(read_state_dict(a, 'generator'), read_state_dict(b, 'generator'))
    return None


def table(result: dict) -> str:
    metrics = [m for m in METRICS if any(m in e['metrics'] for e in result['epochs'])]
    lines = ['| epoch | ' + ' | '.join(f'{METRICS[m][0]}: study / rerun' for m in metrics) + ' | generator |',
             '|' + ' --- |' * (len(metrics) + 2)]
    for e in result['epochs']:
        cells = [_pair(*e['metrics'].get(m, (None, None)), scale=100 if m in PERCENT else 1) for m in metrics]
        weights = {True: 'identical', False: 'differs', None: 'not kept'}[e['same_weights']]
        lines.append(f"| {e['epoch']} | " + ' | '.join(cells) + f' | {weights} |')
    return '\n'.join(lines)


def _pair(a, b, scale: float = 1) -> str:
    """Both values as the report shows them (fractions as percentages), to all their digits."""
    if isinstance(a, float) and isinstance(b, float):
        if _equal(a, b):
            return f'{a * scale!r} (same)'
        return f'{a * scale:.6g} / {b * scale:.6g} ({(b - a) * scale:+.3g})'
    return f'{a} / {b}'


def main(argv: Optional[list[str]] = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    plan = load_plan(args.study)
    folder = run_folder(args.study, plan.run(args.run, args.study))
    rerun_folder = retrain(plan, args.study, args.run, args.into, args.threads or recorded_threads(folder))
    result = compare(folder, rerun_folder)
    result['builds'] = {'study': provenance.read(os.path.join(folder, layout.PROVENANCE)),
                        'rerun': provenance.read(os.path.join(rerun_folder, layout.PROVENANCE))}
    print(table(result))
    print('\nbit for bit: ' + ('yes, every scored epoch and every kept generator' if result['identical'] else 'NO'))
    if args.json:
        with open(args.json, 'w', encoding='utf-8') as f:
            json.dump(result, f, indent=1)
    return 0 if result['identical'] else 1


if __name__ == '__main__':
    run_cli(lambda: sys.exit(main()), 'experiments/rerun.py')
