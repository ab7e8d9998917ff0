"""The numbers of a loss study: every run's results gathered, per-configuration summaries over
seeds, and differences from the baseline with confidence intervals.

Differences are paired by seed (the runs of one seed share the data order and the network
initialisation), and their 95% interval uses Student's t with n-1 degrees of freedom: with 3
seeds the interval is wide (t = 4.30), which is the honest reading of so few runs.
"""
import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
from scipy import stats

from experiments.study_eval import read_results, run_folder
from experiments.study_plan import Plan, Run
from experiments.study_provenance import history
from experiments.study_worker import read_status

# metric key -> (label, True if higher is better)
METRICS = {
    'fid': ('FID', False),
    'miou': ('oracle mIoU (%)', True),
    'pixel_acc': ('pixel accuracy (%)', True),
    'swd': ('SWD (x1e3)', False),
    'texture_error': ('texture error', False),
}
PERCENT = ('miou', 'pixel_acc')


@dataclass
class RunResult:
    run: Run
    state: str                  # trained | failed | stopped | not started
    error: Optional[str]
    rows: list[dict]            # one per scored epoch
    train_seconds: float
    eval_seconds: float
    provenance: list[dict]      # the builds that trained and scored it (util.provenance)

    @property
    def started(self) -> bool:
        return self.state != 'not started' or bool(self.provenance)

    @property
    def final(self) -> Optional[dict]:
        return self.rows[-1] if self.rows else None


def gather(out: str, plan: Plan) -> list[RunResult]:
    """Every planned run, started or not, with whatever it has scored."""
    results = []
    for run in plan.runs:
        folder = run_folder(out, run)
        status = read_status(folder)
        rows = [scaled(row) for row in read_results(folder)]
        results.append(RunResult(run, status.get('state', 'not started'), status.get('error'), rows,
                                 float(status.get('train_seconds', 0.0)), float(status.get('eval_seconds', 0.0)),
                                 history(folder)))
    return results


def scaled(row: dict) -> dict:
    """Fractions shown as percentages, as SPADE's tables do."""
    return {k: (100.0 * v if k in PERCENT else v) for k, v in row.items()}


def metrics_present(results: list[RunResult]) -> list[str]:
    found = {k for r in results for row in r.rows for k in row}
    return [m for m in METRICS if m in found]


def finished(results: list[RunResult], config: str) -> list[RunResult]:
    """The config's runs that trained to the end and were scored at the last epoch."""
    last = max((r.final['epoch'] for r in results if r.final and r.state == 'trained'), default=None)
    return [r for r in results if r.run.config == config and r.state == 'trained' and r.final
            and r.final['epoch'] == last]


@dataclass
class Summary:
    mean: float
    std: float  # sample standard deviation over seeds (0 for one seed)
    n: int


def summarise(values: list[float]) -> Optional[Summary]:
    if not values:
        return None
    a = np.asarray(values, dtype=np.float64)
    return Summary(float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else 0.0, len(a))


@dataclass
class Difference:
    mean: float
    low: float   # 95% interval; nan with fewer than two paired seeds
    high: float
    n: int

    @property
    def excludes_zero(self) -> bool:
        return self.n > 1 and (self.low > 0 or self.high < 0)


def paired_difference(values: dict[int, float], baseline: dict[int, float]) -> Optional[Difference]:
    """config - baseline over the seeds both have, with a t interval."""
    seeds = sorted(set(values) & set(baseline))
    if not seeds:
        return None
    d = np.array([values[s] - baseline[s] for s in seeds], dtype=np.float64)
    if len(d) < 2:
        return Difference(float(d[0]), math.nan, math.nan, 1)
    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
    return Difference(float(d.mean()), float(d.mean() - half), float(d.mean() + half), len(d))


def detectable(results: list[RunResult], configs: list[str], baseline: str, metric: str) -> Optional[tuple[float, float]]:
    """(smallest, largest) half-width of the 95% intervals of the configurations' paired
    differences from ``baseline``: a difference smaller than its interval's half-width cannot be
    told from zero with these seeds. None with fewer than two paired seeds."""
    base = final_values(results, baseline, metric)
    widths = [(d.high - d.low) / 2 for c in configs if c != baseline
              and (d := paired_difference(final_values(results, c, metric), base)) and d.n > 1]
    return (min(widths), max(widths)) if widths else None


def final_values(results: list[RunResult], config: str, metric: str) -> dict[int, float]:
    """seed -> the metric at the last epoch, for the config's finished runs."""
    return {r.run.seed: r.final[metric] for r in finished(results, config) if metric in r.final}


def curve(results: list[RunResult], config: str, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """(training images, values (seeds x points)) of the config's finished runs."""
    runs = [r for r in finished(results, config) if all(metric in row for row in r.rows)]
    if not runs:
        return np.zeros(0), np.zeros((0, 0))
    points = min(len(r.rows) for r in runs)
    images = np.array([row['total_images'] for row in runs[0].rows[:points]], dtype=np.float64)
    values = np.array([[row[metric] for row in r.rows[:points]] for r in runs], dtype=np.float64)
    return images, values
