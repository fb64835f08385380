"""Group commit: one writer thread per process serves the requests its threads hand it.

    request threads: validate, route -> submit(job) -> wait for job.done
    writer thread:   take every job queued while it was busy (and, with a window, those
                     of the requests already arriving, within it) -> commit(jobs, carry)
                     -> wake each job
                     -> after(committed) -> carry (rows to join the next batch)

The writer knows nothing about predictions: `commit` and `after` are the service's
(inference/serving.py). A request wakes only when its batch's transaction is over, and
reads its own `error`: no answer without a committed row, and a failed commit fails
exactly the jobs of that batch.

The thread is started lazily in the process that uses it (gunicorn forks its workers
before any request), and closes its database connection after a few idle seconds, so an
idle worker holds no connection (and a test database can be dropped).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.db import connections

logger = logging.getLogger(__name__)

IDLE_CLOSE_SECONDS = 2.0


class Job(Protocol):
    done: threading.Event
    error: BaseException | None

    @property
    def size(self) -> int: ...


@dataclass
class GroupCommitWriter:
    """`commit(jobs, carry) -> committed`; `after(committed) -> carry` (see module doc)."""

    commit: Callable[[list, list], Any]
    after: Callable[[Any], list]
    window_seconds: float = 0.0
    max_rows: int = 256
    _queue: list = field(default_factory=list)
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _thread: threading.Thread | None = None
    _pid: int = 0
    _stopping: bool = False
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
            self._cond.notify()

    def submit(self, job: Job, *, timeout: float) -> bool:
        """Hand a job to the writer (after `arrive`) and wait for it; False if it was not
        done in time."""
        with self._cond:
            self._start_if_needed()
            self._arriving -= 1
            self._queue.append(job)
            self._cond.notify()
        return job.done.wait(timeout)

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()
        thread = self._thread
        if thread is not None and self._pid == os.getpid():
            thread.join(timeout=5)

    def _start_if_needed(self) -> None:
        if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
            return
        # A forked child has the parent's object but not its thread: start its own.
        self._queue[:] = [job for job in self._queue if not job.done.is_set()]
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        carry: list = []
        while True:
            jobs = self._take(bool(carry))
            if jobs is None:
                connections.close_all()
                return
            committed = None
            try:
                committed = self.commit(jobs, carry)
            except BaseException as exc:  # the writer must outlive any batch
                logger.exception("Group commit failed")
                for job in jobs:
                    job.error = job.error or exc
            finally:
                carry = []
                for job in jobs:
                    job.done.set()
            if committed is not None:
                carry = self._after(committed)

    def _after(self, committed: Any) -> list:
        try:
            return self.after(committed)
        except Exception:
            logger.exception("Group commit: the work after a batch failed")
            return []

    def _rows(self) -> int:
        return sum(job.size for job in self._queue)

    def _take(self, has_carry: bool) -> list | None:
        with self._cond:
            while not self._queue and not has_carry and not self._stopping:
                if not self._cond.wait(IDLE_CLOSE_SECONDS) and not self._queue:
                    connections.close_all()  # idle: hold no connection
            if self._stopping:
                return None
            if self._queue and self.window_seconds > 0:
                deadline = time.monotonic() + self.window_seconds
                while self._arriving > 0 and self._rows() < self.max_rows:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
            return self._pop()

    def _pop(self) -> list:
        taken, rows = [], 0
        while self._queue and (not taken or rows + self._queue[0].size <= self.max_rows):
            job = self._queue.pop(0)
            taken.append(job)
            rows += job.size
        return taken
