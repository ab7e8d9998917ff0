"""SPADE's learning-rate schedule, in one place: the trainer follows it, and tools that reason
about a run's schedule (``experiments/extend.py``) ask it rather than re-derive it."""


def learning_rate(lr: float, epoch: int, niter: int, niter_decay: int) -> float:
    """The rate epoch ``epoch`` (from 1) trains at: ``lr`` for ``niter`` epochs, then linear to
    zero over ``niter_decay``. SPADE lowers the rate at the end of each epoch past ``niter``, so
    the first decay epoch still trains at the full rate."""
    if niter_decay <= 0:
        return lr
    decayed_epochs = max(0, epoch - 1 - niter)
    return lr * max(0.0, 1.0 - decayed_epochs / niter_decay)
