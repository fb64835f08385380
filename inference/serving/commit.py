"""Running a job: through the process's group commit (inference/group_commit.py),
or in the request itself (SQLite, a caller's transaction, backdated rows). Either way the
job's instances and their shadows are scored and all their rows committed before the
request answers."""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.db import DatabaseError, connection

from inference import partitions
from inference.group_commit import GroupCommitWriter
from inference.serving import log_rows
from inference.serving.errors import DatabaseUnavailable, database_error
from inference.serving.jobs import Job
from inference.serving.log_rows import add_shadow_rows, backdated_written, rows_by_table
from inference.serving.score import predict_jobs, predict_shadows

logger = logging.getLogger(__name__)


# How long a request waits for its batch before it answers 503 (a batch is stuck).
GROUP_COMMIT_TIMEOUT_SECONDS = 30.0


_lock = threading.Lock()


_writer: list[GroupCommitWriter] = []


def group_commit_reset() -> None:
    """Forget this process's writer; the next request makes one with the current settings."""
    with _lock:
        writers = list(_writer)
        _writer.clear()
    for writer in writers:
        writer.stop()


def run_job(job: Job, writer: GroupCommitWriter | None) -> None:
    """Through the process's writer (group commit), or here (see the module doc)."""
    if writer is not None and not any(item.request.logged_at for item in job.items):
        job.submitted = True
        if not writer.submit(job, timeout=GROUP_COMMIT_TIMEOUT_SECONDS):
            message = "The prediction was not logged in time: try again shortly."
            job.fail(DatabaseUnavailable(message, {"database": [message]}))
    else:
        _run_here(job)
    if job.error is not None:
        raise job.error


def group_commit_on() -> bool:
    return (
        settings.HUB_GROUP_COMMIT
        and connection.vendor == "postgresql"
        # A caller's open transaction (tests, the demo) must see its rows: not another
        # connection's.
        and not connection.in_atomic_block
    )


def group_commit_writer() -> GroupCommitWriter:
    if not _writer:
        with _lock:
            if not _writer:
                _writer.append(
                    GroupCommitWriter(
                        commit=_commit_batch,
                        window_seconds=settings.HUB_GROUP_COMMIT_WINDOW_MS / 1000.0,
                        max_rows=settings.HUB_GROUP_COMMIT_MAX_ROWS,
                    )
                )
    return _writer[0]


def _run_here(job: Job) -> None:
    backdated = [item.request.logged_at for item in job.items if item.request.logged_at]
    if backdated:
        partitions.partitions_cover(job.table.table_name, backdated)
    commit_jobs([job])
    if job.error is None:
        backdated_written(job.table, job.served())


def _commit_batch(jobs: list[Job]) -> None:
    commit_jobs(jobs)
    if any(job.error is not None and isinstance(job.error, DatabaseUnavailable) for job in jobs):
        connection.close()  # a broken connection is opened again by the next batch


def commit_jobs(jobs: list[Job]) -> None:
    """Predict the jobs and their shadows, then log all their rows in one transaction.
    A job that could not be served or logged has its error set."""
    predict_jobs(jobs)
    predicted = time.perf_counter()
    ready = [job for job in jobs if job.error is None]
    if not ready:
        return
    shadows = predict_shadows(ready)
    by_table = rows_by_table(ready, predicted)
    add_shadow_rows(by_table, shadows)
    try:
        taken = log_rows.commit_rows(by_table)
    except DatabaseError as exc:
        logger.error("Logging %d request(s) failed: %s", len(ready), exc)
        for job in ready:
            job.fail(database_error(exc))
        return
    for job in ready:
        job.taken |= {item.request_id for item in job.items} & taken
