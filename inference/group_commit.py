"""Group commit: the requests in flight in a process share one commit, made by one of them.

    request thread: validate, route -> submit(job):
        queue the job; if no batch is being committed, lead: take every job queued (and,
        with a window, those of the requests already arriving, within it) -> commit(jobs)
        -> wake each job; otherwise wait until a leader has committed this job, or until
        leading is free again (then lead the jobs queued meanwhile)

There is no writer thread: the request that finds no commit in progress commits the batch
itself, on its own database connection, so a lone request pays no hand-off to another
thread and back, and under load each batch costs one wake-up per follower. One batch at a
time per process: the requests that arrive while it commits form the next one.

The writer knows nothing about predictions: `commit` is the service's (inference/serving/,
which predicts the jobs, their shadows too, and logs all their rows in one transaction).
A job is done only when its batch's transaction is over; its request reads its own
`error`: no answer without a committed row, and a failed commit fails exactly the jobs
of that batch.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

logger = logging.getLogger(__name__)


class Job(Protocol):
    done: threading.Event
    error: BaseException | None

    @property
    def size(self) -> int: ...


@dataclass
class GroupCommitWriter:
    """`commit(jobs)`: predict and log the jobs (see module doc)."""

    commit: Callable[[list], Any]
    window_seconds: float = 0.0
    max_rows: int = 256
    _queue: list = field(default_factory=list)
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _leading: bool = False  # a request is committing a batch
    # Requests on their way to submit (parsing, validating): the window waits only for
    # them, so a lone request never waits for company that is not coming.
    _arriving: int = 0

    def arrive(self) -> None:
        with self._cond:
            self._arriving += 1

    def leave(self) -> None:
        """A request that arrived and will not submit (refused before, e.g. a 400)."""
        with self._cond:
            self._arriving -= 1
            self._notify_window()

    def submit(self, job: Job, *, timeout: float) -> bool:
        """Queue a job (after `arrive`) and see it committed, leading batches while no one
        else does; False if it was not done in time."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._arriving -= 1
            self._queue.append(job)
            self._notify_window()
        while True:
            jobs = self._lead_or_wait(job, deadline)
            if jobs is None:
                return job.done.is_set()
            self._commit(jobs)

    def stop(self) -> None:
        """Nothing runs between batches: kept for callers that reset the writer."""

    def _notify_window(self) -> None:
        # Only a leader waiting out the window cares about arrivals: without a window,
        # waking the waiting requests at each arrival would cost a thread switch each.
        if self.window_seconds > 0:
            self._cond.notify_all()

    def _lead_or_wait(self, job: Job, deadline: float) -> list | None:
        """The batch to commit when this request leads; None once its job is done (or
        its time is up)."""
        with self._cond:
            while not job.done.is_set():
                if not self._leading:
                    self._leading = True
                    return self._take()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)
            return None

    def _commit(self, jobs: list) -> None:
        try:
            self.commit(jobs)
        except BaseException as exc:  # every job of the batch is answered, whatever failed
            logger.exception("Group commit failed")
            for job in jobs:
                job.error = job.error or exc
        finally:
            for job in jobs:
                job.done.set()
            with self._cond:
                self._leading = False
                self._cond.notify_all()

    def _rows(self) -> int:
        return sum(job.size for job in self._queue)

    def _take(self) -> list:
        """(Holding the lock.) The jobs queued, after the window for those arriving."""
        if self.window_seconds > 0:
            deadline = time.monotonic() + self.window_seconds
            while self._arriving > 0 and self._rows() < self.max_rows:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
        taken, rows = [], 0
        while self._queue and (not taken or rows + self._queue[0].size <= self.max_rows):
            job = self._queue.pop(0)
            taken.append(job)
            rows += job.size
        return taken
