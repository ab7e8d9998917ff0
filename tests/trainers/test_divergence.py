"""The divergence watch: exploding or non-finite losses and weights stop the run, on every rank
alike, with a message naming the iteration and the losses; fp16's skipped overflow steps do not."""
import math

import pytest
import torch

from trainers.distributed import Context
from trainers.divergence import DivergenceWatch, TrainingDiverged


def losses(**values):
    return {k: torch.tensor(float(v)) for k, v in values.items()}


def watch(max_loss=1e6, fp16=False):
    return DivergenceWatch(max_loss, tolerate_overflow=fp16, ctx=Context())


def test_healthy_losses_pass_and_the_window_restarts():
    w = watch()
    for i in range(1, 4):
        w.observe(losses(GAN=1.5, VGG=40.0), i)
    w.check('here', [torch.ones(3)])
    assert w.iterations == 0  # a new window after each check


@pytest.mark.parametrize('bad', [math.nan, math.inf, -math.inf, 2e6])
def test_a_bad_loss_stops_with_the_first_bad_iteration_and_values(bad):
    w = watch()
    w.observe(losses(GAN=1.0, VGG=2.0), 7)
    w.observe(losses(GAN=bad, VGG=2.0), 8)
    w.observe(losses(GAN=1.0, VGG=2.0), 9)  # a later good iteration does not hide it
    with pytest.raises(TrainingDiverged, match=r'at iteration 8 .*GAN .*VGG 2\); stopped before saving latest'):
        w.check('before saving latest')


def test_max_loss_zero_allows_any_finite_value_but_not_nan():
    w = watch(max_loss=0)
    w.observe(losses(GAN=1e30), 1)
    w.check('x')
    w.observe(losses(GAN=math.nan), 2)
    with pytest.raises(TrainingDiverged, match='not finite: GAN nan'):
        w.check('x')


def test_fp16_tolerates_an_occasional_overflow_but_not_a_run_of_them():
    w = watch(fp16=True)
    w.observe(losses(GAN=math.inf), 1)  # the loss scaler skips this step
    w.observe(losses(GAN=1.0), 2)
    w.check('x')
    for i in range(3, 6):
        w.observe(losses(GAN=math.nan), i)
    with pytest.raises(TrainingDiverged, match='at iteration 3'):
        w.check('x')


def test_fp16_still_stops_exploding_finite_losses():
    w = watch(fp16=True)
    w.observe(losses(GAN=math.inf), 1)
    w.observe(losses(GAN=5e7), 2)
    w.observe(losses(GAN=1.0), 3)
    with pytest.raises(TrainingDiverged):
        w.check('x')


def test_non_finite_weights_stop_even_with_healthy_losses():
    w = watch()
    w.observe(losses(GAN=1.0), 1)
    weights = [torch.ones(4), torch.tensor([1.0, math.nan]), torch.arange(3)]  # integer buffers are skipped
    with pytest.raises(TrainingDiverged, match='weights are no longer finite before saving 3; they were not saved'):
        w.check('before saving 3', weights)
