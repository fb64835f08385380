"""Retention of the partitioned inference logs: each group's policy (models.LogRetention)
keeps `keep_months` whole months before the current one; older month partitions are
archived (written to a Parquet file in media storage, recorded as an
ArchivedLogPartition, browsable and downloadable in the admin) and dropped, or just
dropped. Beat applies it daily (inference/partitions.py `partitions_maintain_all`).

The Parquet file is written with pyarrow, read from the partition in id order a batch at
a time (keyset reads: no server-side cursor, so PgBouncer's transaction pooling is fine).
JSON columns are stored as their JSON text, times as UTC microseconds.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pyarrow as pa
import pyarrow.parquet as pq
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import connection, transaction

from groups.models import ModelGroup
from inference import tables
from inference.models import ArchivedLogPartition, LogRetention, RetentionAction
from inference.partitions import Partition, partitions_list

logger = logging.getLogger(__name__)

READ_BATCH_ROWS = 50_000

# (column, SQL read, Arrow type): JSON as its text, uuids as text.
_COLUMNS = (
    ("id", "id", pa.int64()),
    ("request_id", "request_id::text", pa.string()),
    ("model_version_id", "model_version_id", pa.int64()),
    ("role", "role", pa.string()),
    ("routing_key", "routing_key", pa.string()),
    ("inputs", "inputs::text", pa.string()),
    ("prediction", "prediction::text", pa.string()),
    ("score", "score", pa.float64()),
    ("probabilities", "probabilities::text", pa.string()),
    ("explanation", "explanation::text", pa.string()),
    ("base_value", "base_value", pa.float64()),
    ("latency_ms", "latency_ms", pa.float64()),
    ("fallback", "fallback", pa.bool_()),
    ("error", "error", pa.string()),
    ("created_at", "created_at", pa.timestamp("us", tz="UTC")),
    ("outcome", "outcome::text", pa.string()),
    ("outcome_at", "outcome_at", pa.timestamp("us", tz="UTC")),
    ("batch_id", "batch_id::text", pa.string()),
)
PARQUET_SCHEMA = pa.schema([(name, kind) for name, _, kind in _COLUMNS])


@dataclass(frozen=True)
class RetentionResult:
    partition: str
    month: date
    rows: int
    freed_bytes: int
    seconds: float
    archive: ArchivedLogPartition | None


def retention_cutoff(keep_months: int, *, today: date | None = None) -> date:
    """The first month kept: months before it are past retention."""
    today = today or datetime.now(UTC).date()
    return tables.month_add(tables.month_start(today), -keep_months)


def expired_partitions(table_name: str, keep_months: int, *, today: date | None = None) -> list:
    cutoff = retention_cutoff(keep_months, today=today)
    return [p for p in partitions_list(table_name) if p.month is not None and p.month < cutoff]


def retention_apply(*, group: ModelGroup, today: date | None = None) -> list[RetentionResult]:
    """Archive or drop the group's month partitions past its policy, oldest first."""
    policy = LogRetention.objects.filter(group=group).first()
    if policy is None or not tables.is_partitioned(group.table_name):
        return []
    results = []
    for partition in expired_partitions(group.table_name, policy.keep_months, today=today):
        archive = policy.action == RetentionAction.ARCHIVE
        results.append(partition_retire(group=group, partition=partition, archive=archive))
    return results


def _size(relation: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_total_relation_size(%s::regclass)", [relation])
        return int(cursor.fetchone()[0])


def partition_retire(*, group: ModelGroup, partition: Partition, archive: bool) -> RetentionResult:
    """Archive (when asked) then drop one month partition of the group's table."""
    started = time.monotonic()
    quote = connection.ops.quote_name
    freed = _size(quote(partition.name))
    record = None
    rows = 0
    if archive:
        record = partition_archive(group=group, partition=partition)
        rows = record.row_count
    else:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {quote(partition.name)}")
            rows = cursor.fetchone()[0]
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE {quote(partition.name)}")
        if record is not None:
            ArchivedLogPartition.objects.filter(pk=record.pk).update(freed_bytes=freed)
    logger.info(
        "Retention: %s %s (%d rows, %d bytes)",
        "archived" if archive else "dropped",
        partition.name,
        rows,
        freed,
    )
    assert partition.month is not None
    return RetentionResult(
        partition.name, partition.month, rows, freed, time.monotonic() - started, record
    )


def _batches(partition_name: str) -> Iterator[pa.RecordBatch]:
    quote = connection.ops.quote_name
    select = ", ".join(sql for _, sql, _ in _COLUMNS)
    after = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {select} FROM {quote(partition_name)} WHERE id > %s ORDER BY id "
                f"LIMIT {READ_BATCH_ROWS}",
                [after],
            )
            rows = cursor.fetchall()
        if not rows:
            return
        after = rows[-1][0]
        columns = list(zip(*rows, strict=True))
        yield pa.record_batch(
            [
                pa.array(values, type=kind)
                for values, (_, _, kind) in zip(columns, _COLUMNS, strict=True)
            ],
            schema=PARQUET_SCHEMA,
        )


def partition_archive(*, group: ModelGroup, partition: Partition) -> ArchivedLogPartition:
    """Write the partition to a Parquet file in media storage and record it."""
    assert partition.month is not None
    rows = 0
    with tempfile.NamedTemporaryFile(suffix=".parquet") as handle:
        with pq.ParquetWriter(handle.name, PARQUET_SCHEMA, compression="zstd") as writer:
            for batch in _batches(partition.name):
                writer.write_batch(batch)
                rows += batch.num_rows
        handle.seek(0)
        name = f"inference/archives/{group.table_name}/{partition.name}.parquet"
        if default_storage.exists(name):
            default_storage.delete(name)  # an earlier attempt that did not finish
        stored = default_storage.save(name, File(handle))
        size = default_storage.size(stored)
    record, _ = ArchivedLogPartition.objects.update_or_create(
        table_name=group.table_name,
        month=partition.month,
        defaults={
            "group": group,
            "group_name": group.name,
            "group_slug": group.slug,
            "partition_name": partition.name,
            "row_count": rows,
            "file": stored,
            "file_bytes": size,
        },
    )
    return record


def archived_partition_delete(*, archived: ArchivedLogPartition) -> None:
    """Forget an archived month and delete its file."""
    if archived.file and default_storage.exists(archived.file.name):
        default_storage.delete(archived.file.name)
    archived.delete()
