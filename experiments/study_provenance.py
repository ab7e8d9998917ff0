"""Which builds trained a study's runs, and the rule that keeps a report from comparing runs of
different builds (commit and uncommitted changes, torch, instruction sets: :mod:`util.provenance`).

A run's lineage is the sequence of builds recorded in its folder, one per change (a run trained
at one commit and re-scored at another has two). Runs compare when their lineages are equal, so a
study whose runs were all re-scored together at a new commit still compares. By default a mixed
study is refused, before it trains (:func:`check_can_train`) and when its report is written
(:func:`check_report`); with ``--allow_mixed`` the report marks every run outside the largest
group with :data:`MARK`. Runs trained before builds were recorded form one group of their own.
"""
import os
from collections import Counter
from dataclasses import dataclass

from runs import layout
from util import provenance
from util.errors import OptionError

MARK = '†'
NOT_RECORDED = 'not recorded'
ALLOW = '--allow_mixed'
SHOWN = 4  # run names a message lists


def history(folder: str) -> list[dict]:
    return provenance.read(os.path.join(folder, layout.PROVENANCE))


def recorded_threads(folder: str) -> int:
    """The torch thread count of the run's first recorded build (a run is deterministic at one)."""
    entries = history(folder)
    if not entries or not isinstance(entries[0].get('threads'), int):
        raise OptionError(f'{folder} records no thread count ({layout.PROVENANCE}): give --threads')
    return entries[0]['threads']


def lineage(entries: list[dict]) -> tuple:
    """The run's builds, one per change; ``(NOT_RECORDED,)`` for a run that recorded none."""
    builds: list = []
    for entry in entries:
        key = provenance.build(entry)
        if not builds or builds[-1] != key:
            builds.append(key)
    return tuple(builds) or (NOT_RECORDED,)


def distinct(entries: list[dict]) -> list[dict]:
    """The entries that start a new build (what the lineage is made of)."""
    kept: list[dict] = []
    for entry in entries:
        if not kept or provenance.build(kept[-1]) != provenance.build(entry):
            kept.append(entry)
    return kept


@dataclass
class Builds:
    """The lineages of a study's started runs: ``groups`` maps each lineage to its runs (the
    largest group first, ties in plan order); ``marked``: the runs outside the largest."""
    groups: dict[tuple, list[str]]
    histories: dict[str, list[dict]]

    @property
    def mixed(self) -> bool:
        return len(self.groups) > 1

    @property
    def marked(self) -> set[str]:
        return {name for names in list(self.groups.values())[1:] for name in names}


def builds(histories: dict[str, list[dict]]) -> Builds:
    """``histories``: run name -> recorded builds, for the runs that were started, in plan order."""
    lineages = {name: lineage(entries) for name, entries in histories.items()}
    counts = Counter(lineages.values())
    order = sorted(dict.fromkeys(lineages.values()), key=lambda key: -counts[key])  # stable: plan order on ties
    return Builds({key: [n for n, k in lineages.items() if k == key] for key in order}, histories)


def describe_lineage(entries: list[dict]) -> str:
    if not entries:
        return NOT_RECORDED
    return ' then '.join(f'commit {provenance.commit_label(e)}, torch {e.get("torch")}, {provenance.isa_label(e)}'
                         for e in distinct(entries))


def check_report(found: Builds, allow_mixed: bool) -> None:
    """Refuses a report that would compare runs of different builds, naming them."""
    if found.mixed and not allow_mixed:
        raise OptionError(f'the runs were not all trained on one build ({_groups(found)}): their differences would '
                          f'be partly the build\'s; train the odd ones again on one build, or pass {ALLOW} to '
                          f'write the report with them marked {MARK}')


def check_can_train(histories: dict[str, list[dict]], pending: list[str], allow_mixed: bool) -> None:
    """Refuses, before anything trains, to train ``pending`` runs on this build when the study's
    runs were started on another (or before builds were recorded)."""
    if allow_mixed or not pending or not histories:
        return
    current = provenance.collect()
    other = {name: entries for name, entries in histories.items()
             if lineage(entries) == (NOT_RECORDED,) or any(provenance.build(e) != provenance.build(current)
                                                            for e in entries)}
    if other:
        first = next(iter(other))
        raise OptionError(f'{_names(list(other))} of this study ran on another build ({first}: '
                          f'{describe_lineage(other[first])}; this is commit {provenance.commit_label(current)}, '
                          f'torch {current["torch"]}, {provenance.isa_label(current)}): its report would compare '
                          f'runs of different builds; go on with that build, choose another --out, or pass '
                          f'{ALLOW} (the report then marks them {MARK})')


def _groups(found: Builds) -> str:
    return '; '.join(f'{_names(names)}: {describe_lineage(found.histories[names[0]])}'
                     for names in found.groups.values())


def _names(names: list[str]) -> str:
    return ', '.join(names[:SHOWN]) + (f' and {len(names) - SHOWN} more' if len(names) > SHOWN else '')
