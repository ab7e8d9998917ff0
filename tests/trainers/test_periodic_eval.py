"""Which evaluation result becomes the run's best generator."""
import math
from types import SimpleNamespace

from trainers.periodic_eval import PeriodicEvaluator


def improves(best: dict, result: dict) -> bool:
    return PeriodicEvaluator.improves(SimpleNamespace(best=best), result)


def test_lower_fid_and_higher_miou_improve():
    assert improves({}, {'fid': 50.0}) and improves({'fid': 50.0}, {'fid': 40.0})
    assert not improves({'fid': 40.0}, {'fid': 50.0})
    assert improves({'miou': 0.3}, {'miou': 0.4}) and not improves({'miou': 0.4}, {'miou': 0.3})


def test_a_metric_that_is_not_defined_is_never_the_best():
    # a NaN best would compare False with every later value and stay the best for good
    assert not improves({}, {'fid': math.nan, 'miou': 0.5})
    assert not improves({'miou': 0.2}, {'miou': math.nan})
    assert improves({}, {'fid': 60.0})
