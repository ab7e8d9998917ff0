"""The seeded loss study: trains every configuration with every seed on the built-in dataset,
scores each at every epoch on the test split, and writes a report with tables and plots.

    python experiments/loss_study.py                     # the default study (~1.5 h on 2 CPU cores)
    python experiments/loss_study.py --quick             # the same code path in seconds
    python experiments/loss_study.py --report docs/results.md
    python experiments/loss_study.py --gpu                # 128 px on one GPU
    python experiments/loss_study.py --crop_size 256 --gpu_ids 0 --vgg_weights PATH   # the real study

Options this script does not know are train.py options for every run (they come after the
configuration's own). Killed and started again with the same command, a study continues where
it stopped: finished runs are not redone, a run cut short resumes from its last snapshot.
All runs log to one TensorBoard folder: ``tensorboard --logdir OUT/tensorboard``.

Refused with one line before anything is written (:mod:`experiments.study_paths`): an --out or
--report that cannot be written or would land among files not the study's own, options the
study sets itself, and runs another live process is training (:mod:`experiments.study_lock`).
SIGINT, SIGTERM and SIGHUP stop the workers (they save ``latest``); a worker whose study died
without telling it stops by itself.

Every run records the builds that trained it (commit and uncommitted changes, torch, CPU and
instruction sets, threads: ``<run>/provenance.json``). Runs of different builds do not compare:
the study refuses to train on another build than its runs started on, and the report refuses
to mix them; ``--allow_mixed`` goes on and marks them in the report.
"""
import argparse
import datetime
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from experiments import study_plan  # noqa: E402
from experiments.study_lock import check_free  # noqa: E402
from experiments.study_paths import check_paths  # noqa: E402
from experiments.study_plan import Plan, Run, option_value  # noqa: E402
from util.entry import run_cli  # noqa: E402
from util.errors import OptionError, UserError  # noqa: E402
from util.provenance import cpu_model  # noqa: E402

LOG_FILE = 'study_log.txt'
# the study's ways to be told to stop; all reach the workers as SIGTERM (SIGHUP: the terminal closed)
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(prog='experiments/loss_study.py', description=__doc__.split('\n\n')[0],
                                     epilog='Other options are passed to train.py for every run.')
    parser.add_argument('--out', default=None, help='study folder [default: checkpoints/loss_study, '
                                                    'checkpoints/loss_study_quick with --quick]')
    parser.add_argument('--configs', default=None,
                        help=f'comma-separated built-in configurations, "" for none (only --config ones) '
                             f'[default: {",".join(study_plan.DEFAULT_CONFIGS)}; also built in: '
                             f'{", ".join(c for c in study_plan.CONFIGS if c not in study_plan.DEFAULT_CONFIGS)}]')
    parser.add_argument('--config', action='append', default=[], metavar="NAME='OPTIONS'",
                        help="an extra configuration: its name and its train.py options (repeatable)")
    parser.add_argument('--seeds', default=None, help='comma-separated training seeds [default: 0,1,2]')
    parser.add_argument('--jobs', type=int, default=None, help='runs trained at once [default: cores // threads; '
                                                               '1 on a GPU]')
    parser.add_argument('--threads', type=int, default=None, help='torch threads per run [default: cores // jobs]')
    parser.add_argument('--quick', action='store_true', help='a toy study in seconds (tests, trying it out)')
    parser.add_argument('--gpu', action='store_true', help='the study at 128 px on CUDA GPU 0, one run at a '
                                                           'time (experiments/study_plan.py GPU)')
    parser.add_argument('--report', default=None, help='where the Markdown report goes; its figures go in '
                                                       'the folder of the same name [default: OUT/results.md]')
    parser.add_argument('--report_only', action='store_true', help='train nothing: write the report from '
                                                                   'what the study folder holds')
    parser.add_argument('--allow_mixed', action='store_true',
                        help='train and report runs of different builds (commit, torch, instruction sets) in '
                             'one study; the report marks them [default: refused]')
    return parser.parse_known_args(argv)


def chosen_configs(args: argparse.Namespace) -> dict[str, str]:
    if args.configs is None:
        names = list(study_plan.DEFAULT_CONFIGS)
    else:  # '' asks for none: a study of --config ones only
        names = [n.strip() for n in args.configs.split(',') if n.strip()]
    unknown = [n for n in names if n not in study_plan.CONFIGS]
    if unknown:
        raise OptionError(f"unknown configuration(s) {', '.join(unknown)}: built in are "
                          f"{', '.join(study_plan.CONFIGS)}; add others with --config NAME='OPTIONS'")
    configs = {n: study_plan.CONFIGS[n] for n in names}
    for text in args.config:
        name, options = study_plan.parse_config(text)
        if name in configs:
            raise OptionError(f'configuration {name!r} is given twice')
        configs[name] = options
    return configs


def chosen_seeds(args: argparse.Namespace) -> tuple[int, ...]:
    if args.seeds is None:
        return study_plan.QUICK_SEEDS if args.quick else study_plan.SEEDS
    try:
        return tuple(int(s) for s in args.seeds.split(',') if s.strip())
    except ValueError:
        raise OptionError(f'--seeds takes comma-separated integers, got {args.seeds!r}') from None


def common_options(args: argparse.Namespace, extra: list[str]) -> tuple[str, ...]:
    common = shlex.split(study_plan.QUICK if args.quick else study_plan.COMMON)
    if args.gpu:
        import torch  # only here: the study process itself never computes
        if not torch.cuda.is_available():
            raise OptionError('--gpu: no CUDA GPU is visible to torch here; run the CPU study without it')
        common += shlex.split(study_plan.GPU)
    if not any(a.startswith('--vgg_weights') for a in extra) and not _imagenet_vgg_present():
        print('No ImageNet VGG19 in the torch hub cache and no --vgg_weights: every run uses an UNTRAINED '
              'VGG19 (--vgg_weights random); the report says so.')
        common += ['--vgg_weights', 'random']
    if not any(a.startswith('--nThreads') for a in extra):
        common += ['--nThreads', '0']  # loader workers would take cores from the other jobs
    return tuple(common + list(extra))


def _imagenet_vgg_present() -> bool:
    from models.networks.vgg import torchvision_weights_file
    return os.path.isfile(torchvision_weights_file()[1])


def job_layout(args: argparse.Namespace, on_gpu: bool) -> tuple[int, int]:
    """(jobs, threads per job) with jobs x threads <= the cores this process may use."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else (os.cpu_count() or 1)
    for name in ('jobs', 'threads'):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise OptionError(f'--{name} must be >= 1, got {getattr(args, name)}')
    jobs, threads = args.jobs, args.threads
    if jobs is None:
        jobs = 1 if on_gpu else max(1, cores // (threads or 1))
    if threads is None:
        threads = max(1, cores // jobs)
    if jobs * threads > cores:
        raise OptionError(f'--jobs {jobs} x --threads {threads} = {jobs * threads} threads on {cores} cores: '
                          f'oversubscribed PyTorch CPU runs slow down many-fold; lower one of them')
    return jobs, threads


def check_command_lines(plan: Plan) -> None:
    """Every run's train.py options, parsed before anything trains: a misspelt option in one
    configuration stops the study at once instead of failing that run an hour in."""
    from options.train_options import TrainOptions
    for run in plan.runs:
        try:
            TrainOptions().parse(list(run.train_args), verbose=False)
        except UserError as exc:
            raise OptionError(f'configuration {run.config!r}: {exc}') from None
        weights = option_value(run.train_args, '--vgg_weights', 'imagenet')
        if weights not in ('imagenet', 'random') and not os.path.isfile(weights):
            # found missing only in the worker, it would fail every run for good
            raise OptionError(f'--vgg_weights {weights}: no such file (configuration {run.config!r}); give a '
                              'VGG19 state dict, imagenet or random')


def check_same_build(out: str, plan: Plan, allow_mixed: bool) -> None:
    """Refuses to train runs on this build when the study's runs started on another: hours
    later its report would refuse them."""
    from experiments.study_provenance import check_can_train
    from experiments.study_stats import gather
    from experiments.study_worker import FAILED, TRAINED
    results = gather(out, plan)
    check_can_train({r.run.name: r.provenance for r in results if r.started},
                    [r.run.name for r in results if r.state not in (TRAINED, FAILED)], allow_mixed)


def check_runs_free(out: str, plan: Plan) -> None:
    """Refuses a study while another process trains one of its runs (e.g. the same study,
    still running in another terminal)."""
    from experiments.study_eval import run_folder
    for run in plan.runs:
        check_free(run_folder(out, run), run.name)


def is_complete(out: str, run: Run) -> bool:
    """Trained (or failed) and every epoch snapshot scored with today's metrics."""
    from experiments.study_eval import run_folder, unscored_epochs
    from experiments.study_worker import FAILED, TRAINED, read_status
    folder = run_folder(out, run)
    return read_status(folder).get('state') in (TRAINED, FAILED) and not unscored_epochs(folder)


def catch_stop_signals(handler) -> dict:
    """Installs ``handler`` for the stop signals; returns the handlers it replaced. A signal the
    study was started ignoring stays ignored: ``nohup`` (SIGHUP) and a background job of a
    script (SIGINT) ask to outlive the terminal."""
    return {s: signal.signal(s, handler) for s in STOP_SIGNALS if signal.getsignal(s) is not signal.SIG_IGN}


class Scheduler:
    """Runs the workers, ``jobs`` at a time, and stops them all on SIGINT / SIGTERM / SIGHUP (they
    save their latest snapshot first); a worker also stops by itself when the study is gone."""

    def __init__(self, out: str, jobs: int, threads: int, gpu: str) -> None:
        self.out, self.jobs, self.threads, self.gpu = out, jobs, threads, gpu
        self.live: set = set()
        self.lock = threading.Lock()
        self.signum: Optional[int] = None
        self.done = 0

    def stop(self, signum, frame) -> None:
        self.signum = signum
        with self.lock:
            for process in self.live:
                process.send_signal(signal.SIGTERM)

    def run_all(self, runs: list[Run]) -> None:
        previous = catch_stop_signals(self.stop)
        try:
            with ThreadPoolExecutor(max_workers=self.jobs) as pool:
                for future in [pool.submit(self.run_one, run, len(runs)) for run in runs]:
                    future.result()
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)

    def run_one(self, run: Run, total: int) -> None:
        if self.signum is not None:
            return
        if is_complete(self.out, run):  # trained and scored: not even a process is started
            from experiments.study_eval import prune, run_folder
            prune(run_folder(self.out, run))  # in case an earlier version kept everything
            self.done += 1
            return
        folder = os.path.join(study_plan.runs_dir(self.out), run.name)
        os.makedirs(folder, exist_ok=True)
        from experiments import study_worker
        start = time.time()
        with open(os.path.join(folder, LOG_FILE), 'a', encoding='utf-8') as log:
            process = subprocess.Popen(study_worker.command(self.out, run.name, '--gpu_ids', self.gpu,
                                                            '--parent', str(os.getpid())),
                                       cwd=study_worker.ROOT, env=study_worker.environment(self.threads),
                                       stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            with self.lock:
                self.live.add(process)
            code = process.wait()
            with self.lock:
                self.live.discard(process)
        self.done += 1
        state = 'done' if code == 0 else ('stopped' if self.signum else f'exited with status {code}')
        print(f'[{self.done}/{total}] {run.name} {state} after {(time.time() - start) / 60:.1f} min '
              f'(log: {os.path.join(folder, LOG_FILE)})', flush=True)


def study_context(argv: list[str], out: str, jobs: int, threads: int, session_seconds: float) -> dict:
    import torch
    wall = _record_session(out, argv, session_seconds)
    return {
        'command': 'python experiments/loss_study.py ' + ' '.join(shlex.quote(a) for a in argv),
        'date': datetime.date.today().isoformat(),
        'machine': f'{cpu_model()}, {os.cpu_count()} cores' + (f', {torch.cuda.get_device_name(0)}'
                                                               if torch.cuda.is_available() else ', no GPU'),
        'torch': torch.__version__,
        'wall_time': f'{wall / 60:.1f} min in all sessions of this study',
        'jobs': f'{jobs} at a time, {threads} torch thread(s) each',
    }


def _record_session(out: str, argv: list[str], seconds: float) -> float:
    """Adds this session's wall time to ``OUT/sessions.json``; returns the total."""
    import json
    from util.fileio import atomic_write_text
    path = os.path.join(out, 'sessions.json')
    sessions = []
    if os.path.isfile(path):
        with open(path, encoding='utf-8') as f:
            sessions = json.load(f)
    if seconds > 0:
        sessions.append({'ended': datetime.datetime.now().isoformat(timespec='seconds'), 'seconds': round(seconds, 1),
                         'argv': argv})
        atomic_write_text(path, json.dumps(sessions, indent=1) + '\n')
    return sum(s['seconds'] for s in sessions)


def main(argv: Optional[list[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args, extra = parse(argv)
    out = os.path.abspath(args.out or os.path.join('checkpoints', 'loss_study_quick' if args.quick else 'loss_study'))
    report = args.report or os.path.join(out, 'results.md')
    check_paths(out, report, args.report is not None, training=not args.report_only)
    if args.report_only:
        plan = study_plan.load_plan(out)
    else:
        plan = study_plan.make_plan(chosen_configs(args), chosen_seeds(args), common_options(args, extra), out)
        study_plan.check_same_plan(plan, out)
    gpu = option_value(plan.common, '--gpu_ids', '-1')
    jobs, threads = job_layout(args, on_gpu=gpu not in ('-1', ''))
    start, signum = time.time(), None
    if not args.report_only:
        check_command_lines(plan)
        check_runs_free(out, plan)
        check_same_build(out, plan, args.allow_mixed)
        study_plan.save_plan(plan, out)
        print(f'{len(plan.runs)} runs ({len(plan.configs)} configurations x {len(plan.seeds)} seeds), {jobs} at a '
              f'time with {threads} torch thread(s) each; study folder {out}\n'
              f'TensorBoard: tensorboard --logdir {study_plan.tensorboard_dir(out)}', flush=True)
        scheduler = Scheduler(out, jobs, threads, gpu)
        scheduler.run_all(plan.runs)
        signum = scheduler.signum
    from experiments.study_report import write_report  # matplotlib only once there is something to plot
    context = study_context(argv, out, jobs, threads, 0.0 if args.report_only else time.time() - start)
    context['vgg_random'] = option_value(plan.common, '--vgg_weights', '') == 'random'
    write_report(out, plan, report, context, allow_mixed=args.allow_mixed)
    if signum is not None:
        print(f'stopped by signal {signum}: run the same command again to continue the study', file=sys.stderr)
        return 128 + signum
    print(f'report: {report}')
    return 0


if __name__ == '__main__':
    run_cli(lambda: sys.exit(main()), 'loss_study.py')
