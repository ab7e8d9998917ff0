"""Where a study writes, and the check that it can, made before anything is written.

The study folder (``--out``) holds ``plan.json``, ``runs/``, ``tensorboard/``, ``sessions.json``
and, by default, the report. The report (``--report PAGE.md``) has its figures in the folder
named like the page without its extension (``results.md`` + ``results/``), so that the page's
links are short and relative. A path that is in the way (a file where a folder goes, a folder
where the page goes, a folder of the user's own files where the figures go) stops the study
with one line before it writes anything, as train.py does for its run folder.
"""
import os

from experiments.study_plan import plan_file, runs_dir, tensorboard_dir
from util.fileio import blocking_file
from util.errors import OptionError

SHOWN = 3  # names a message lists


def figures_dir(report: str) -> str:
    return os.path.splitext(report)[0]


def figure_files() -> set[str]:
    """The names the report writes into its figures folder."""
    from experiments.study_stats import METRICS  # torch & co: only when a figures folder is there to check
    return {f'{metric}.png' for metric in METRICS} | {'samples.png', 'summary.json'}


def check_paths(out: str, report: str, report_given: bool, training: bool) -> None:
    """Refuses, with one line naming the option, an ``--out`` or ``--report`` the study cannot
    write, or could only write among files that are not its own. ``training``: the study will
    write its folder (not ``--report_only``, which only reads it)."""
    _check_out(out, training)
    _check_report(report, '--report' if report_given else 'the report (default: in --out)')


def _check_out(out: str, training: bool) -> None:
    for folder in (runs_dir(out), tensorboard_dir(out)):  # covers OUT itself and every folder above
        blocker = blocking_file(folder)
        if blocker is not None:
            where = '' if blocker == os.path.abspath(out) else f': {blocker}'
            raise OptionError(f'--out {out}{where} is a file, not a folder, so the study folder cannot be made '
                              'there; choose another --out')
    if training and os.path.isdir(out) and not os.path.isfile(plan_file(out)):
        foreign = sorted(os.listdir(out))
        if foreign:
            raise OptionError(f'--out {out} holds other files ({_shown(foreign)}) and no study (no '
                              f'{os.path.basename(plan_file(out))}); a study writes its runs, logs and report '
                              'there: choose a new or empty folder')
    if training:
        _check_writable(out, '--out', out)


def _check_report(report: str, what: str) -> None:
    figures = figures_dir(report)
    if os.path.isdir(report) or report.endswith(('/', os.sep)):
        raise OptionError(f'{what} {report} is a folder; give the page to write, e.g. '
                          f'--report {os.path.join(report, "results.md")}')
    if figures == report:
        raise OptionError(f'{what} {report} has no extension: its figures go in the folder named like the page '
                          f'without it; give e.g. --report {report}.md')
    blocker = blocking_file(figures)
    if blocker is not None:
        raise OptionError(f'{what} {report}: {blocker} is a file, not a folder, so the report and its figures '
                          f'({figures}) cannot be written; choose another --report')
    if os.path.isdir(figures):
        ours = figure_files()
        foreign = sorted(name for name in os.listdir(figures) if not _is_ours(name, ours))
        if foreign:
            raise OptionError(f'{what} {report}: its figures go in {figures}, which holds other files '
                              f'({_shown(foreign)}); choose another --report')
    for folder in (os.path.dirname(os.path.abspath(report)), figures):
        _check_writable(folder, what, report)


def _is_ours(name: str, ours: set[str]) -> bool:
    """One of the report's files, or the temporary file of one (a write that was cut short)."""
    return name in ours or (name.startswith('.') and name.endswith('.tmp')
                            and any(name.startswith(f'.{own}.') for own in ours))


def _check_writable(folder: str, what: str, given: str) -> None:
    existing = os.path.abspath(folder)
    while not os.path.exists(existing):  # the first folder that is there: the others will be made in it
        existing = os.path.dirname(existing)
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OptionError(f'{what} {given}: no permission to write in {existing}')


def _shown(names: list[str]) -> str:
    return ', '.join(names[:SHOWN]) + (', ...' if len(names) > SHOWN else '')
