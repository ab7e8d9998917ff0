"""Stopping on SIGINT / SIGTERM: finish the iteration, save ``latest``, exit with the signal's
status (128 + its number, as a shell reports a process killed by it), so that
``train.py ... && test.py ...`` and batch schedulers see an unfinished run."""
import signal
from typing import Optional

from trainers.distributed import Context, max_over_ranks

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """A handler that only records the signal; the loop looks at it between iterations."""

    def __init__(self) -> None:
        self.signum: Optional[int] = None
        self.previous = {}
        for sig in SIGNALS:
            try:
                self.previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread (e.g. an embedding application)
                pass

    def _handle(self, signum, frame) -> None:
        self.signum = signum

    def agreed(self, ctx: Context) -> Optional[int]:
        """The signal to stop for, if any process received one (all processes stop together).

        The ranks agree with one all-reduce per call, so call it sparingly when distributed."""
        return max_over_ranks([self.signum or 0], ctx)[0] or None

    def restore(self) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def exit_status(signum: int) -> int:
    return 128 + signum
