"""Trains one run of a study on past the study's schedule, in another folder, and scores every new
epoch as the study does: a run's learning curve beyond the study's budget, in one command.

    python experiments/extend.py --study OUT --run monce_s0 --into EXT --niter 11 --niter_decay 1
    python experiments/learning_curve.py EXT/runs/monce_s0 --out FIGURES

The run's folder (snapshots, scores, samples) and its TensorBoard log are copied into ``EXT``, a
study of that one run whose plan is the study's with the longer schedule; the study's own worker
trains it on from its ``latest`` snapshot at the run's recorded thread count, then scores the new
epochs. The study itself is only read. Resuming is exact, so when the epochs already trained run
at the same learning rates under the new schedule (a study's ``--niter 5 --niter_decay 1`` and
``--niter 11 --niter_decay 1`` both train every epoch at the full rate), the result is bit for bit
the run that the longer schedule trains from scratch; otherwise the command says which epochs
differ. Stopped (Ctrl-C, SIGTERM), the same command continues the extension.

Refused before anything is written: a run without a ``latest`` snapshot, a schedule no longer than
what the run trained, an ``--into`` holding anything else, and a build other than the run's
(commit, torch, instruction sets; ``--allow_mixed`` goes on, and the report then marks the run).
"""
import argparse
import os
import shutil
import sys
from typing import NamedTuple, Optional

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run as a script

from evaluation.options import non_negative_int, positive_int  # noqa: E402
from experiments import study_plan, study_worker  # noqa: E402
from experiments.learning_curve import epoch_table  # noqa: E402
from experiments.study_eval import run_folder  # noqa: E402
from experiments.study_lock import LOCK_FILE, check_free  # noqa: E402
from experiments.study_plan import Plan, Run  # noqa: E402
from experiments.study_provenance import ALLOW, check_can_train, history, recorded_threads  # noqa: E402
from runs import layout  # noqa: E402
from trainers.schedule import learning_rate  # noqa: E402
from util.entry import run_cli  # noqa: E402
from util.errors import OptionError, UserError  # noqa: E402
from util.state_dict import read_state_dict  # noqa: E402


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog='experiments/extend.py', description=__doc__.split('\n\n')[0])
    parser.add_argument('--study', required=True, help='the study folder (its --out); only read')
    parser.add_argument('--run', required=True, help='the run to train on, e.g. monce_s0')
    parser.add_argument('--into', required=True, help='a new folder for the extension (a study of that one run)')
    parser.add_argument('--niter', type=non_negative_int, required=True, help='the new schedule: epochs at the full rate')
    parser.add_argument('--niter_decay', type=non_negative_int, default=None,
                        help="the new schedule: epochs of linear decay [default: the study's]")
    parser.add_argument('--threads', type=positive_int, default=None,
                        help="torch threads [default: those of the run's first recorded build]")
    parser.add_argument(ALLOW, action='store_true',
                        help="train on with another build than the run's (the report then marks the run)")
    return parser.parse_args(argv)


class Schedule(NamedTuple):
    lr: float
    niter: int
    niter_decay: int

    @classmethod
    def of(cls, train_args) -> 'Schedule':
        """The schedule as train.py reads it from a run's options."""
        from options.train_options import TrainOptions
        opt = TrainOptions().parse(list(train_args), verbose=False)
        return cls(opt.lr, opt.niter, opt.niter_decay)

    @property
    def epochs(self) -> int:
        return self.niter + self.niter_decay

    def rate(self, epoch: int) -> float:
        return learning_rate(self.lr, epoch, self.niter, self.niter_decay)


def trained_position(folder: str) -> tuple[int, int]:
    """(epoch, images done in it) where the run's ``latest`` snapshot stands."""
    path = layout.state_file(folder, 'latest')
    if not os.path.isfile(path):
        raise OptionError(f'{folder} has no latest snapshot ({os.path.basename(path)}) to train on from: '
                          'only a run the study trained (or stopped) can be extended')
    state = read_state_dict(path, 'train state')
    return int(state['epoch']), int(state['epoch_images'])


def changed_rates(old: Schedule, new: Schedule, epochs: int) -> list[int]:
    """The epochs up to ``epochs`` whose learning rate differs between the two schedules."""
    return [e for e in range(1, epochs + 1) if old.rate(e) != new.rate(e)]


def extended_plan(plan: Plan, run: Run, niter: int, niter_decay: int, into: str) -> Plan:
    """The study's plan for this one run, its schedule options last (argparse: the last one wins)."""
    common = (*plan.common, '--niter', str(niter), '--niter_decay', str(niter_decay))
    return study_plan.make_plan({run.config: plan.configs[run.config]}, (run.seed,), common, into)


def copy_run(study: str, run: Run, into: str, position: tuple[int, int]) -> None:
    """The run's folder and TensorBoard log into ``into``, marked to train on."""
    target = run_folder(into, run)
    shutil.copytree(run_folder(study, run), target, ignore=shutil.ignore_patterns(LOCK_FILE))
    logs = os.path.join(study_plan.tensorboard_dir(study), run.name)
    if os.path.isdir(logs):
        shutil.copytree(logs, os.path.join(study_plan.tensorboard_dir(into), run.name))
    status = study_worker.read_status(target)
    status.update(state=study_worker.STOPPED, extended_from={'study': os.path.abspath(study), 'epoch': position[0],
                                                              'epoch_images': position[1]})
    study_worker.write_status(target, status)


def prepare(args: argparse.Namespace) -> tuple[Run, int]:
    """Checks everything, then writes ``into`` (or finds the extension started there before);
    returns the run and the first epoch the extension trains."""
    plan = study_plan.load_plan(args.study)
    run = plan.run(args.run, args.study)
    source = run_folder(args.study, run)
    check_free(source, run.name)  # not while the study still trains it
    position = trained_position(source)
    old = Schedule.of(run.train_args)
    plan_into = extended_plan(plan, run, args.niter, old.niter_decay if args.niter_decay is None else args.niter_decay,
                              args.into)
    new = Schedule.of(plan_into.runs[0].train_args)
    done = position[0] - 1  # whole epochs; a run stopped mid-epoch has trained part of one more
    if new.epochs <= done:
        raise OptionError(f'--niter {new.niter} --niter_decay {new.niter_decay} is {new.epochs} epochs, and '
                          f'{run.name} has trained {done}: give a longer schedule')
    if os.path.isfile(study_plan.plan_file(args.into)):  # started before: go on with it
        study_plan.check_same_plan(plan_into, args.into)
        return run, position[0]
    if os.path.exists(args.into) and os.listdir(args.into):
        raise OptionError(f'--into {args.into} is not empty and holds no extension: give a new folder')
    if args.threads is None:
        recorded_threads(source)  # refused now, not after the copy
    check_can_train({run.name: history(source)}, [run.name], args.allow_mixed)
    differ = changed_rates(old, new, position[0] if position[1] else done)
    if differ:
        print(f'note: epochs {", ".join(map(str, differ))} of {run.name} trained at other learning rates than the new '
              'schedule gives them: the extension is not the run this schedule trains from scratch')
    study_plan.save_plan(plan_into, args.into)
    copy_run(args.study, run, args.into, position)
    return run, position[0]


def main(argv: Optional[list[str]] = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    run, first_new = prepare(args)
    folder = run_folder(args.into, run)
    threads = args.threads or recorded_threads(folder)
    print(f'training {run.name} on from epoch {first_new} in {args.into} with {threads} thread(s) ...', flush=True)
    code = study_worker.run_in_foreground(args.into, run.name, threads)
    if code != 0:
        raise UserError(f'the extension of {run.name} stopped with status {code} (its log is above); '
                        'the same command goes on from where it stopped')
    print(epoch_table(folder, first_new))
    print(f'\n* trained by this extension. Curves and samples: python experiments/learning_curve.py {folder} '
          '--out FOLDER --epochs 1,...')
    return 0


if __name__ == '__main__':
    run_cli(lambda: sys.exit(main()), 'experiments/extend.py')
