"""The INSERT of log rows, without model instances, and the check of ids logged already
(on PostgreSQL under a transaction-scoped advisory lock per id)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from functools import partial
from typing import Any

import orjson
import psycopg
from django.db import connection, models, transaction
from psycopg.types.json import Jsonb

from inference import tables

LOG_COLUMNS = (
    "request_id",
    "model_version_id",
    "role",
    "routing_key",
    "inputs",
    "prediction",
    "score",
    "probabilities",
    "explanation",
    "base_value",
    "latency_ms",
    "fallback",
    "error",
    "created_at",
)


def _lock_key(table_name: str, request_id: uuid.UUID) -> int:
    value = int.from_bytes(request_id.bytes[:8], "big", signed=True)
    return value ^ int.from_bytes(table_name.encode()[-8:].rjust(8, b"\0"), "big", signed=True)


def already_logged(table_name: str, ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these ids the table holds. On PostgreSQL first a transaction-scoped lock
    per id: a concurrent writer of the same id waits for this transaction, and this one
    sees its committed row (one statement later, in a new snapshot)."""
    if not ids:
        return set()
    if connection.vendor == "postgresql":
        keys = sorted({_lock_key(table_name, i) for i in ids})
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_advisory_xact_lock(k)) FROM unnest(%s::bigint[]) AS k", [keys]
            )
    model = tables.inference_log_model(table_name)
    return set(model.all_rows.filter(request_id__in=ids).values_list("request_id", flat=True))


def log_insert(
    table_name: str,
    rows: list[dict[str, Any]],
    *,
    ignore_conflicts: bool = False,
    extra_columns: tuple[str, ...] = (),
    claimed: Sequence[uuid.UUID] = (),
) -> set[uuid.UUID]:
    """INSERT log rows (as `row_fields` makes them) in as few statements as the database
    takes, without building model instances: the ORM's per-row machinery cost more CPU than
    the statement itself (bench/serving). Each value is adapted by its model field's own
    get_db_prep_save, as the ORM would (jsonb on PostgreSQL, text on SQLite).

    Rows whose request_id the table already holds are skipped, and their ids returned:
    every row's with `ignore_conflicts` (batch jobs, whose redone chunks repeat ids), the
    `claimed` ids otherwise (client-supplied). Call it in a transaction for those."""
    check = [row["request_id"] for row in rows] if ignore_conflicts else list(claimed)
    taken = already_logged(table_name, check)
    if taken:
        rows = [row for row in rows if row["request_id"] not in taken]
    if rows:
        insert_rows(table_name, rows, extra_columns)
    return taken


_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def _numpy_scalar(value: Any) -> Any:
    if hasattr(value, "item"):  # a numpy scalar, which orjson takes only in arrays
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _orjson_dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=_numpy_scalar, option=_ORJSON_OPTIONS)


def _jsonb(value: Any) -> Jsonb | None:
    # As JSONField.get_db_prep_save on PostgreSQL (None is SQL NULL), dumped by orjson.
    return None if value is None else Jsonb(value, dumps=_orjson_dumps)


def _adapters(fields: list[models.Field]) -> list[Callable[[Any], Any]]:
    """Each field's value -> database parameter, as its get_db_prep_save."""
    postgres = connection.vendor == "postgresql"
    return [
        _jsonb
        if postgres and isinstance(f, models.JSONField)
        else partial(f.get_db_prep_save, connection=connection)
        for f in fields
    ]


def insert_rows(table_name: str, rows: list[dict[str, Any]], extra_columns: tuple) -> None:
    model = tables.inference_log_model(table_name)
    # extra_columns: e.g. batch_id (inference/batch.py); live rows leave it to its default.
    fields = [model._meta.get_field(name) for name in LOG_COLUMNS + extra_columns]
    adapters = list(zip([f.name for f in fields], _adapters(fields), strict=True))
    quote = connection.ops.quote_name
    head = (
        f"INSERT INTO {quote(model._meta.db_table)} "
        f"({', '.join(quote(f.column) for f in fields)}) VALUES "
    )
    row_sql = "(" + ", ".join(["%s"] * len(fields)) + ")"
    size = max(1, min(connection.ops.bulk_batch_size(fields, rows), MAX_PARAMETERS // len(fields)))
    with _insert_cursor() as execute:
        for start in range(0, len(rows), size):
            chunk = rows[start : start + size]
            # .get: a column added since a caller built its rows (probabilities) is NULL.
            params = [adapt(row.get(name)) for row in chunk for name, adapt in adapters]
            execute(head + ", ".join([row_sql] * len(chunk)), params)


# A statement's bound parameters are counted in 16 bits by PostgreSQL's protocol.
MAX_PARAMETERS = 65535


@contextmanager
def _insert_cursor() -> Iterator[Callable[[str, list], None]]:
    """`execute(sql, params)` for the INSERT. On PostgreSQL the parameters are bound by the
    server: Django's psycopg cursor binds them client-side, quoting every value into the
    SQL text in Python, which cost a third of the INSERT's CPU on the predict path
    (bench/serving); psycopg's server-side binding adapts them in C. Never prepared (Django
    sets the connection's prepare_threshold to None), so it works behind PgBouncer in
    transaction mode."""
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            yield cursor.execute
        return
    connection.ensure_connection()
    with connection.wrap_database_errors:
        binding = psycopg.Cursor(connection.connection)
    # Wrapped as Django wraps its own (query logging, execute wrappers, errors).
    with connection._prepare_cursor(binding) as cursor:
        yield cursor.execute


def savepoint_if_nested() -> AbstractContextManager:
    # In autocommit (every web request) the INSERT is its own transaction, one round trip;
    # inside an outer transaction (a caller's atomic block, tests) a savepoint keeps a failed
    # INSERT from breaking it.
    if transaction.get_connection().in_atomic_block:
        return transaction.atomic()
    return nullcontext()
