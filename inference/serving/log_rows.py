"""A batch's log rows: one per served instance and one per shadow prediction, gathered
per table and committed in one transaction. A client-supplied request_id is logged once,
even when a retry races the first attempt (see inference/serving/insert.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from groups.selectors import RoutingTable
from inference import tables
from inference.rollup import rollup_mark_written
from inference.serving.insert import (
    LOG_COLUMNS,
    already_logged,
    insert_rows,
    savepoint_if_nested,
)
from inference.serving.jobs import Job, Pending


def row_fields(table: RoutingTable, item: Pending, now: datetime) -> dict[str, Any]:
    explanation = item.explanation
    values = explanation.values if explanation and not explanation.is_empty else None
    assert item.prediction is not None
    return {
        "request_id": item.request_id,
        "model_version_id": item.version_id,
        "role": item.role,
        "routing_key": item.request.routing_key or "",
        "inputs": item.request.inputs,
        "prediction": item.prediction.label,
        "score": item.prediction.score,
        "probabilities": item.prediction.probabilities,  # multiclass only
        "explanation": values,
        "base_value": explanation.base_value if values is not None else None,
        "latency_ms": round(item.latency_ms, 3),
        "fallback": item.fallback,
        "error": " ".join([item.error, *item.notes]).strip(),
        "created_at": item.request.logged_at or now,
    }


@dataclass
class TableRows:
    rows: list[dict[str, Any]] = field(default_factory=list)
    claimed: list[uuid.UUID] = field(default_factory=list)  # ids that may be logged already
    # shadow row id -> the claimed id it shadows: skipped with it when that one is taken
    follows: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)


def rows_by_table(ready: list[Job], predicted: float) -> dict[str, TableRows]:
    """The jobs' rows per table. A client-supplied id sent by two requests of one batch (a
    retry racing the first attempt) is logged once: the later request answers from it."""
    now = timezone.now()
    by_table: dict[str, TableRows] = {}
    claimed: set[tuple[str, uuid.UUID]] = set()
    for job in ready:
        share = (predicted - job.started) * 1000.0 / max(len(job.items), 1)
        into = by_table.setdefault(job.table.table_name, TableRows())
        for item in job.items:
            # A batch shares its work: each row carries its share of the time.
            item.latency_ms = share
            item.row = row_fields(job.table, item, now)
            if item.request.request_id is not None:
                key = (job.table.table_name, item.request_id)
                if key in claimed:
                    job.taken.add(item.request_id)
                    continue
                claimed.add(key)
                into.claimed.append(item.request_id)
            into.rows.append(item.row)
    return by_table


def add_shadow_rows(by_table: dict[str, TableRows], shadows: list[Pending]) -> None:
    """The shadows' rows join their requests' rows, except those of a request answered from
    another's row (a client-supplied id sent twice in the batch). A shadow of a claimed id
    follows it: skipped if that id turns out to be logged already."""
    now = timezone.now()
    for item in shadows:
        job = item.job
        assert job is not None and item.shadow_of is not None
        if item.shadow_of in job.taken:
            continue
        into = by_table[job.table.table_name]
        if item.request.request_id is not None:
            into.follows[item.request_id] = item.shadow_of
        item.row = row_fields(job.table, item, now)
        into.rows.append(item.row)


def commit_rows(by_table: dict[str, TableRows]) -> set[uuid.UUID]:
    """One INSERT per table, all in one transaction (a lone INSERT in autocommit is its
    own). The client-supplied ids already logged are skipped (with their shadows' rows)
    and returned."""
    several = len(by_table) > 1 or any(
        rows.claimed or _statements(table_name, rows.rows) > 1
        for table_name, rows in by_table.items()
    )
    for attempt in range(2):
        taken: set[uuid.UUID] = set()
        try:
            with transaction.atomic() if several else savepoint_if_nested():
                for table_name, rows in by_table.items():
                    taken |= _log_table_rows(table_name, rows)
            return taken
        except IntegrityError:
            # SQLite takes no lock per id: a concurrent retry's row may have won the race
            # the unique index decides. Once more: the check now finds it.
            if attempt or connection.vendor == "postgresql":
                raise
    raise AssertionError("unreachable")


def _log_table_rows(table_name: str, rows: TableRows) -> set[uuid.UUID]:
    taken = already_logged(table_name, rows.claimed)
    kept = [
        row
        for row in rows.rows
        if row["request_id"] not in taken and rows.follows.get(row["request_id"]) not in taken
    ]
    if kept:
        insert_rows(table_name, kept, ())
    return taken


def _statements(table_name: str, rows: list[dict[str, Any]]) -> int:
    """How many INSERT statements `insert_rows` needs for these rows (SQLite caps the
    parameters of one statement): more than one must run in a transaction."""
    if len(rows) < 2 or connection.vendor == "postgresql":
        return 1  # PostgreSQL's bulk_batch_size is every row: one statement
    model = tables.inference_log_model(table_name)
    fields = [model._meta.get_field(name) for name in LOG_COLUMNS]
    size = max(1, connection.ops.bulk_batch_size(fields, rows))
    return -(-len(rows) // size)


def backdated_written(table: RoutingTable, items: list[Pending]) -> None:
    """Rows logged with a past time (the demo's replay) may land in hours already rolled
    up for the comparison: mark those hours, after the INSERT (inference/rollup.py). The
    live path logs at `now` and skips this."""
    backdated = [item.request.logged_at for item in items if item.request.logged_at is not None]
    if backdated:
        rollup_mark_written(table.group_id, backdated)
