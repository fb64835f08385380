"""Batch prediction jobs: create (checks before queueing), prepare (cut into chunks), run a
chunk (score, write, log, commit: once), cancel, resume, progress.

    batch_create   size and columns checked, the file saved, the routing table frozen
    -> task batch_prepare: the input cut into chunk files; chunks 0..P-1 queued
    -> task batch_chunk_run(i): score (scoring.py) -> in ONE transaction: claim the chunk,
       write its result part, INSERT its log rows, add its counts -> queue chunk i+P
    -> the last chunk to commit finishes the job

Tasks are acks_late: a worker killed mid-chunk has its message redelivered and the chunk
is redone; a chunk committed before is skipped (the claim is an UPDATE ... WHERE NOT done,
so two runs of one chunk cannot both commit), and the log INSERT ignores request ids
already there. `HUB_BATCH_PARALLEL_CHUNKS` chunks of one job are queued at once. A broker
that never redelivers (the embedded filesystem one) is covered by beat: a job with no chunk
committed for `HUB_BATCH_RESUME_AFTER_SECONDS` is resumed (batch_resume_stalled).
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO, Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone

from core.errors import Conflict, ServiceError
from groups.models import ModelGroup
from groups.routing import CHAMPION, STICKY, RouteMember
from groups.selectors import routing_table
from inference import serving
from inference.batch import files
from inference.batch.scoring import ChunkSpec, score_chunk
from inference.models import BatchChunk, BatchFormat, BatchJob, BatchStatus
from registry.models import ModelVersion

logger = logging.getLogger(__name__)

FIRST_ERRORS = 10
_EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}


class BatchError(ServiceError):
    status = 400


@dataclass(frozen=True)
class BatchOptions:
    key_column: str = ""
    explain: bool = True
    log: bool = True
    output_format: str = ""  # "": the input's
    keep_columns: list[str] | None = None  # None: all
    shadow_columns: bool = False


# --- creating -------------------------------------------------------------------------------


def keep_columns_parse(text: str) -> list[str] | None:
    """The upload's `keep_columns` (API and pages): "all" (or nothing) keeps every input
    column (None), otherwise names separated by commas; "none" keeps no input column."""
    text = (text or "").strip()
    if text.lower() in ("", "all"):
        return None
    if text.lower() == "none":
        return []
    return [name.strip() for name in text.split(",") if name.strip()]


def input_format(file_name: str) -> str:
    suffix = "." + file_name.rsplit(".", 1)[-1].lower() if "." in file_name else ""
    fmt = _EXTENSIONS.get(suffix)
    if fmt is None:
        raise BatchError({"file": ["Send a .csv (with a header), .jsonl or .parquet file."]})
    return fmt


def _check_size(size: int) -> None:
    limit = settings.HUB_BATCH_MAX_BYTES
    if size > limit:
        raise BatchError({"file": [f"The file is {size:,} bytes; at most {limit:,} are accepted."]})
    if size == 0:
        raise BatchError({"file": ["The file is empty."]})


def _members_of_group(group: ModelGroup, key_column: str) -> list[RouteMember]:
    table = routing_table(group.slug)
    if table is None or not table.is_active:
        raise Conflict({"group": [f"The group '{group.slug}' is not active."]})
    if not any(m.role == CHAMPION for m in table.members):
        raise Conflict({"group": [f"The group '{group.slug}' has no champion."]})
    if table.routing_mode == STICKY and not key_column:
        raise BatchError(
            {"key_column": ["This group routes by routing key (sticky): name the key column."]}
        )
    return list(table.members)


def _features(version_id: int, names: list[str]) -> dict[str, dict]:
    version = ModelVersion.objects.get(pk=version_id)
    specs = {f["name"]: f for f in version.metadata.get("features", []) if "name" in f}
    return {name: specs.get(name, {}) for name in names or version.feature_names}


def _check_columns(columns: list[str], features: dict[str, dict], options: BatchOptions) -> None:
    errors = _column_errors(columns, features, options)
    if len(set(columns)) != len(columns):
        errors.setdefault("file", []).append("Two columns have the same name.")
    if errors:
        raise BatchError(errors)


def _column_errors(
    columns: list[str], features: dict[str, dict], options: BatchOptions
) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    missing = [name for name in features if name not in columns]
    if missing:
        errors["file"] = [f"The file lacks the column(s) the models need: {', '.join(missing)}."]
    if options.key_column and options.key_column not in columns:
        errors["key_column"] = [f"No column {options.key_column!r} in the file."]
    unknown = [c for c in options.keep_columns or [] if c not in columns]
    if unknown:
        errors["keep_columns"] = [f"No column(s) {', '.join(unknown)} in the file."]
    return errors


def batch_create(
    *,
    upload: Any,
    options: BatchOptions,
    group: ModelGroup | None = None,
    version: ModelVersion | None = None,
    user: Any = None,
    queue: bool = True,
) -> BatchJob:
    """Check the file (size first, from `.size`, then its columns from the header or
    footer only), save it, and queue the job. `upload`: an UploadedFile or a File."""
    fmt = input_format(upload.name)
    _check_size(upload.size)
    if group is not None:
        members = _members_of_group(group, options.key_column)
        champion = next(m for m in members if m.role == CHAMPION)
        features = _features(champion.version_id, list(group.features or []))
    else:
        assert version is not None
        members = [RouteMember(version.pk, CHAMPION, 100, version.model.name, version.version)]
        features = _features(version.pk, [])
    upload.seek(0)
    try:
        columns, rows = files.input_columns(upload.file if hasattr(upload, "file") else upload, fmt)
    except files.UnreadableFile as exc:
        raise BatchError({"file": [str(exc)]}) from exc
    _check_columns(columns, features, options)
    upload.seek(0)
    job = _job_save(upload, fmt, options, group, version, user, members, features, columns, rows)
    if queue:
        from inference.batch import tasks

        transaction.on_commit(lambda: tasks.batch_prepare.delay(str(job.pk)))
    return job


def batch_run_inline(*, job: BatchJob) -> None:
    """Prepare and run every chunk in this process, in order (the command's --inline)."""
    batch_prepare(job_id=job.pk)
    job.refresh_from_db()
    for index in range(job.chunks_total or 0):
        batch_chunk_run(job_id=job.pk, index=index)


@transaction.atomic
def _job_save(upload, fmt, options, group, version, user, members, features, columns, rows):
    job = BatchJob(
        id=uuid.uuid4(),
        group=group,
        model_version=version,
        team_id=group.team_id if group is not None else version.model.team_id,
        created_by=user if getattr(user, "pk", None) and not hasattr(user, "grant") else None,
        file_name=upload.name.rsplit("/", 1)[-1][:255],
        input_format=fmt,
        output_format=options.output_format or fmt,
        key_column=options.key_column,
        explain=options.explain,
        log=options.log and group is not None and bool(group.table_name),
        keep_columns=options.keep_columns,
        shadow_columns=options.shadow_columns,
        members=[{"version_id": m.version_id, "role": m.role, "weight": m.weight} for m in members],
        features=[{"name": name, **spec} for name, spec in features.items()],
        columns=columns,
        chunk_size=settings.HUB_BATCH_CHUNK_ROWS,
        rows_total=rows,
    )
    files.save(files.input_name(job.pk, fmt), upload)
    job.save(force_insert=True)
    return job


# --- preparing: the input cut into chunks ---------------------------------------------------


def batch_prepare(*, job_id: uuid.UUID | str) -> list[int]:
    """Cut the input into chunk files (streamed; one chunk in memory) and return the
    chunks to queue first. Done once: a redelivered prepare of a prepared job only
    returns them again (a duplicate chunk task is harmless)."""
    job = BatchJob.objects.get(pk=job_id)
    if not job.is_active:
        return []
    if job.chunks_total is None:
        try:
            _cut(job)
        except Exception as exc:
            logger.exception("Batch %s: the input could not be read", job.pk)
            batch_fail(job_id=job.pk, reason=f"The file could not be read: {exc}")
            return []
        job.refresh_from_db()
    if job.chunks_total == 0:
        batch_fail(job_id=job.pk, reason="The file has no rows.")
        return []
    pending = job.chunks.filter(done=False).order_by("index").values_list("index", flat=True)
    return list(pending[: max(1, settings.HUB_BATCH_PARALLEL_CHUNKS)])


def _cut(job: BatchJob) -> None:
    chunks = []
    first_row = 0
    with files.default_storage.open(files.input_name(job.pk, job.input_format), "rb") as fh:
        batches = files.input_batches(fh, job.input_format, job.columns, job.chunk_size)
        for index, table in enumerate(files.chunk_tables(batches, job.chunk_size)):
            files.save(files.chunk_name(job.pk, index), files.table_bytes(table))
            chunks.append(
                BatchChunk(job=job, index=index, first_row=first_row, rows=table.num_rows)
            )
            first_row += table.num_rows
    with transaction.atomic():
        BatchChunk.objects.filter(job=job).delete()
        BatchChunk.objects.bulk_create(chunks)
        BatchJob.objects.filter(pk=job.pk).update(
            chunks_total=len(chunks),
            rows_total=first_row,
            status=BatchStatus.RUNNING,
            started_at=timezone.now(),
        )


# --- running a chunk -------------------------------------------------------------------------


def _spec(job: BatchJob, chunk: BatchChunk) -> ChunkSpec:
    return ChunkSpec(
        job_id=job.pk,
        first_row=chunk.first_row,
        features={f["name"]: f for f in job.features},
        members=[RouteMember(m["version_id"], m["role"], m["weight"]) for m in job.members],
        key_column=job.key_column,
        explain=job.explain,
        keep_columns=job.keep_columns,
        shadow_columns=job.shadow_columns,
    )


def batch_chunk_run(*, job_id: uuid.UUID | str, index: int) -> int | None:
    """Score one chunk and commit it, once. Returns the next chunk to queue (index + P),
    also when this one was committed before: a redelivered task keeps the chain going."""
    chunk = BatchChunk.objects.select_related("job__group").get(job_id=job_id, index=index)
    job = chunk.job
    following = index + max(1, settings.HUB_BATCH_PARALLEL_CHUNKS)
    next_index = following if following < (job.chunks_total or 0) else None
    if not job.is_active:
        return None
    if chunk.done:
        return next_index
    scored = score_chunk(files.table_read(files.chunk_name(job.pk, index)), _spec(job, chunk))
    _commit(job, chunk, scored)
    return next_index


def _commit(job: BatchJob, chunk: BatchChunk, scored: Any) -> None:
    now = timezone.now()
    with transaction.atomic():
        claimed = BatchChunk.objects.filter(pk=chunk.pk, done=False).update(
            done=True,
            rows_ok=scored.rows_ok,
            rows_failed=scored.rows_failed,
            finished_at=now,
        )
        if not claimed:
            return  # another run of this chunk committed first
        files.save(files.part_name(job.pk, chunk.index), files.table_bytes(scored.table))
        if job.log:
            from inference.batch.scoring import log_rows

            rows = log_rows(scored, _spec(job, chunk), now=now, logged_keys=bool(job.key_column))
            serving.log_insert(
                job.group.table_name, rows, ignore_conflicts=True, extra_columns=("batch_id",)
            )
        _count(job.pk, chunk.rows, scored, now)


def _count(job_id: uuid.UUID, rows: int, scored: Any, now: datetime) -> None:
    """Add the chunk's counts (one UPDATE, which holds the job's row until commit, so
    parallel chunks add up) and finish the job when this was its last chunk."""
    if scored.errors:
        _note_errors(job_id, scored.errors)
    BatchJob.objects.filter(pk=job_id).update(
        rows_done=F("rows_done") + rows,
        rows_ok=F("rows_ok") + scored.rows_ok,
        rows_failed=F("rows_failed") + scored.rows_failed,
    )
    status, done, total = (
        BatchJob.objects.filter(pk=job_id).values_list("status", "rows_done", "rows_total").get()
    )
    if status == BatchStatus.RUNNING and done >= (total or 0):
        _finish(BatchJob.objects.get(pk=job_id), now)


def _note_errors(job_id: uuid.UUID, errors: list[tuple[int, str]]) -> None:
    job = BatchJob.objects.select_for_update().only("first_errors").get(pk=job_id)
    if len(job.first_errors) >= FIRST_ERRORS and job.first_errors[-1]["row"] < errors[0][0]:
        return  # the first reasons are known already
    found = job.first_errors + [{"row": r, "error": e} for r, e in errors[:FIRST_ERRORS]]
    job.first_errors = sorted(found, key=lambda e: e["row"])[:FIRST_ERRORS]
    job.save(update_fields=["first_errors"])


def _finish(job: BatchJob, now: datetime) -> None:
    job.finished_at = now
    if job.rows_ok == 0:
        reasons = "; ".join(f"row {e['row']}: {e['error']}" for e in job.first_errors[:3])
        job.status = BatchStatus.FAILED
        job.error = f"Every row failed. The first reasons: {reasons}"
    else:
        job.status = BatchStatus.SUCCEEDED
    job.save(update_fields=["status", "error", "finished_at"])


def batch_fail(*, job_id: uuid.UUID | str, reason: str) -> None:
    BatchJob.objects.filter(pk=job_id, status__in=[BatchStatus.QUEUED, BatchStatus.RUNNING]).update(
        status=BatchStatus.FAILED, error=reason[:2000], finished_at=timezone.now()
    )


# --- cancel, resume, progress ---------------------------------------------------------------


@transaction.atomic
def batch_cancel(*, job: BatchJob) -> BatchJob:
    job = BatchJob.objects.select_for_update().get(pk=job.pk)
    if not job.is_active:
        raise Conflict({"status": [f"The job is {job.get_status_display().lower()} already."]})
    job.status = BatchStatus.CANCELLED
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "finished_at"])
    return job


def batch_resume(*, job: BatchJob) -> int:
    """Queue again whatever of an active job is not committed (a broker that lost a
    message: the filesystem broker has no redelivery). Returns the tasks queued: one per
    chain of chunks (index mod P), at its first chunk not committed; each run queues the
    chain's next chunk, and a committed one is skipped, so no chunk is queued twice."""
    from inference.batch import tasks

    if not job.is_active:
        return 0
    if job.chunks_total is None:
        tasks.batch_prepare.delay(str(job.pk))
        return 1
    parallel = max(1, settings.HUB_BATCH_PARALLEL_CHUNKS)
    first: dict[int, int] = {}
    for index in job.chunks.filter(done=False).order_by("index").values_list("index", flat=True):
        first.setdefault(index % parallel, index)
    for index in sorted(first.values()):
        tasks.batch_chunk_run.delay(str(job.pk), index)
    return len(first)


def batch_jobs_stalled(*, now: datetime | None = None) -> list[BatchJob]:
    """Active jobs with no progress for HUB_BATCH_RESUME_AFTER_SECONDS: no chunk committed
    since then, nor the job created, started or resumed since then."""
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.HUB_BATCH_RESUME_AFTER_SECONDS)
    jobs = BatchJob.objects.filter(
        status__in=[BatchStatus.QUEUED, BatchStatus.RUNNING], created_at__lt=cutoff
    ).annotate(last_chunk=Max("chunks__finished_at"))
    stalled = []
    for job in jobs:
        moments = [job.created_at, job.started_at, job.last_chunk, files.resumed_at(job.pk)]
        if max(m for m in moments if m is not None) < cutoff:
            stalled.append(job)
    return stalled


def batch_resume_stalled(*, now: datetime | None = None) -> list[uuid.UUID]:
    """Resume every stalled job (the beat task, hub/celery.py): a worker that died on the
    embedded filesystem broker, which never redelivers, leaves its job waiting for no one.
    A resumed job is marked, so a worker still down is not sent the same chunks each
    minute: the next resume comes a whole quiet period later."""
    resumed = []
    for job in batch_jobs_stalled(now=now):
        if batch_resume(job=job):
            files.resumed_mark(job.pk)
            logger.warning("Batch %s made no progress: resumed", job.pk)
            resumed.append(job.pk)
    return resumed


@dataclass(frozen=True)
class BatchProgress:
    rows_done: int
    rows_total: int | None
    percent: int
    rows_per_second: float | None
    eta_seconds: float | None


def batch_progress(job: BatchJob, *, now: datetime | None = None) -> BatchProgress:
    total = job.rows_total
    percent = int(100 * job.rows_done / total) if total else (100 if not job.is_active else 0)
    rate = eta = None
    if job.started_at and job.rows_done:
        seconds = ((job.finished_at or now or timezone.now()) - job.started_at).total_seconds()
        rate = job.rows_done / max(seconds, 1e-3)
        if job.is_active and total:
            eta = max(total - job.rows_done, 0) / rate
    return BatchProgress(job.rows_done, total, percent, rate, eta)


def result_stream(job: BatchJob) -> Any:
    if job.status != BatchStatus.SUCCEEDED:
        raise Conflict({"status": ["The result is ready when the job has succeeded."]})
    return files.result_stream(job.pk, job.chunks_total or 0, job.output_format)


def result_file_name(job: BatchJob) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", job.file_name.rsplit(".", 1)[0]) or "batch"
    return f"{stem}-predictions.{job.output_format}"


def open_upload(path: str) -> IO[bytes]:
    """A file on disk as batch_create takes it (the management command)."""
    from django.core.files import File

    fh = open(path, "rb")  # noqa: SIM115 - closed by the caller
    return File(fh, name=path.rsplit("/", 1)[-1])


__all__ = ["BatchFormat", "BatchOptions", "batch_create"]
