"""trainers/schedule.py: SPADE's rate, the one definition the trainer and extend.py share."""
import pytest

from trainers.schedule import learning_rate


def test_constant_then_linear_to_zero_with_the_first_decay_epoch_at_the_full_rate():
    rates = [learning_rate(0.4, epoch, niter=2, niter_decay=4) for epoch in range(1, 9)]
    assert rates == pytest.approx([0.4, 0.4, 0.4, 0.3, 0.2, 0.1, 0.0, 0.0])  # never below zero


def test_without_decay_epochs_the_rate_never_changes():
    assert {learning_rate(0.0002, epoch, niter=5, niter_decay=0) for epoch in range(1, 50)} == {0.0002}
