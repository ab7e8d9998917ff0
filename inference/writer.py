"""Writing result images in the background, so that the generator does not wait for the disk.

:class:`BackgroundWriter` runs jobs (e.g. a sample's conversion to uint8, PNG encoding and
atomic write) on a few threads: numpy and Pillow's compressor do their heavy work without the
GIL, so writing overlaps the generator and the data loader. Finished jobs are reported
(``on_done(key)``) in the order they were submitted, so results are listed in dataset order.
The queue is bounded: :meth:`submit` waits for the oldest job only while ``max_pending`` jobs
are queued or running, so memory stays bounded and the generator never waits for the disk
otherwise. A job's exception is raised again by the next :meth:`submit` or :meth:`finish`, in
the caller's thread: nothing is lost, and the caller turns it into its usual one-line error.
:meth:`stop` ends the writing after an error (jobs not started are dropped) or Ctrl-C (queued
jobs are written too: the generator's work is kept); the jobs that succeeded are reported.
"""
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, Callable, Optional


class BackgroundWriter:
    """A bounded, ordered pool of write jobs, each with a ``key`` passed to ``on_done``."""

    def __init__(self, threads: int, max_pending: int, on_done: Callable[[Any], None]) -> None:
        if threads < 1:
            raise ValueError(f'a background writer needs at least one thread, got {threads}')
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix='result-writer')
        self.max_pending = max(1, max_pending)
        self.on_done = on_done
        self.pending: deque[tuple[Any, Future]] = deque()
        self.raised = False  # a job's error was raised to the caller already

    def submit(self, key: Any, job: Callable, *args) -> None:
        """Queues ``job(*args)``, first waiting for the oldest job while the queue is full.
        Reports the jobs finished so far; raises the error of a failed one."""
        while len(self.pending) >= self.max_pending:
            self._collect(wait_for_oldest=True)
        self.pending.append((key, self.pool.submit(job, *args)))
        self._collect()

    def finish(self) -> None:
        """Waits for every job, reporting them in order; raises the first error."""
        while self.pending:
            self._collect(wait_for_oldest=True)
        self.pool.shutdown(wait=True)

    def stop(self, cancel: bool = True) -> Optional[BaseException]:
        """After an error or Ctrl-C elsewhere: waits for the running jobs (with ``cancel``, jobs
        not started are dropped; without, they run too, until a second Ctrl-C drops them) and
        reports those that succeeded. Returns the first job error not raised yet, if any (the
        caller already has an error to report, and decides what to do with a second one)."""
        try:
            self.pool.shutdown(wait=True, cancel_futures=cancel)
        except KeyboardInterrupt:
            for _, future in self.pending:
                future.cancel()
        error = None
        while self.pending:
            key, future = self.pending.popleft()
            if not future.done() or future.cancelled():
                continue  # not listed: never started, or still running after a second Ctrl-C
            if future.exception() is not None:
                error = error or (None if self.raised else future.exception())
                continue
            self.on_done(key)
        return error

    def _collect(self, wait_for_oldest: bool = False) -> None:
        while self.pending:
            key, future = self.pending[0]
            if not future.done():
                if not wait_for_oldest:
                    return
                wait([future])  # Ctrl-C here leaves the job queued, for stop() to account for
            wait_for_oldest = False
            self.pending.popleft()
            if future.exception() is not None:
                self.raised = True
                raise future.exception()
            self.on_done(key)
