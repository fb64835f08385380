"""Monthly partitions of the per-group inference tables (PostgreSQL).

A group's table is partitioned by `created_at`, one partition per UTC month, plus a
default partition for rows no month takes (inference/tables.py makes them with the
table). Beat creates the coming months ahead (`partitions_maintain_all`), and applies
each group's retention policy (inference/retention.py). A row backdated into a month
that has no partition yet (the demo's replay) gets its month first (`partitions_cover`).
SQLite keeps a plain table: every function here is a no-op there.

Existing plain tables are converted by `manage.py inference_partition_logs`
(`partition_convert`), which keeps predictions flowing: rows are copied in batches while
serving goes on, and only the last rows are copied under a short lock, in the same
transaction that swaps the tables.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from django.conf import settings
from django.db import connection, transaction
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.utils import timezone

from inference import tables

logger = logging.getLogger(__name__)

_BOUND = re.compile(r"FROM \('(\d{4})-(\d{2})-01[^']*'\) TO")
COPY_BATCH_ROWS = 50_000


@dataclass(frozen=True)
class Partition:
    name: str
    month: date | None  # None: the default partition


def partitions_list(table_name: str) -> list[Partition]:
    """The table's partitions, oldest month first, the default partition last."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass",
            [connection.ops.quote_name(table_name)],
        )
        rows = cursor.fetchall()
    found = []
    for name, bound in rows:
        match = _BOUND.search(bound or "")
        month = date(int(match.group(1)), int(match.group(2)), 1) if match else None
        found.append(Partition(name, month))
    return sorted(found, key=lambda p: (p.month is None, p.month or date.min))


def _months_between(first: date, last: date) -> list[date]:
    months, month = [], first
    while month <= last:
        months.append(month)
        month = tables.month_add(month, 1)
    return months


def _default_holds(table_name: str, month: date) -> bool:
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 1 FROM {quote(tables.default_partition_name(table_name))} "
            "WHERE created_at >= %s AND created_at < %s LIMIT 1",
            [_utc(month), _utc(tables.month_add(month, 1))],
        )
        return cursor.fetchone() is not None


def _utc(month: date) -> datetime:
    return datetime(month.year, month.month, 1, tzinfo=UTC)


def _month_create(editor: BaseDatabaseSchemaEditor, table_name: str, month: date) -> str:
    """A month's partition; rows of it already in the default partition move into it
    (PostgreSQL refuses to attach a range the default partition holds rows of)."""
    if not _default_holds(table_name, month):
        return tables.month_partition_create(editor, table_name, month)
    quote = editor.quote_name
    name = tables.partition_name(table_name, month)
    default = quote(tables.default_partition_name(table_name))
    start, end = _utc(month), _utc(tables.month_add(month, 1))
    editor.execute(f"CREATE TABLE {quote(name)} (LIKE {quote(table_name)} INCLUDING DEFAULTS)")
    editor.execute(
        f"WITH moved AS (DELETE FROM {default} WHERE created_at >= %s AND created_at < %s "
        f"RETURNING *) INSERT INTO {quote(name)} SELECT * FROM moved",
        [start, end],
    )
    editor.execute(
        f"ALTER TABLE {quote(table_name)} ATTACH PARTITION {quote(name)} FOR VALUES "
        f"FROM ('{month:%Y-%m-%d} 00:00+00') TO ('{tables.month_add(month, 1):%Y-%m-%d} 00:00+00')"
    )
    return name


def partitions_ensure(table_name: str, months: Iterable[date]) -> list[str]:
    """Create the partitions of these months that are missing; their names."""
    if not tables.is_partitioned(table_name):
        return []
    have = {p.month for p in partitions_list(table_name)}
    wanted = sorted({tables.month_start(m) for m in months} - have)
    created: list[str] = []
    if wanted:
        with transaction.atomic():
            editor = connection.schema_editor(atomic=False)
            editor.deferred_sql = []
            created = [_month_create(editor, table_name, month) for month in wanted]
    return created


def partitions_ahead(table_name: str, *, ahead: int | None = None) -> list[str]:
    """This month's partition and `ahead` more (HUB_LOG_PARTITIONS_AHEAD)."""
    ahead = settings.HUB_LOG_PARTITIONS_AHEAD if ahead is None else ahead
    this_month = tables.month_start(datetime.now(UTC))
    return partitions_ensure(
        table_name, [tables.month_add(this_month, n) for n in range(ahead + 1)]
    )


def partitions_cover(table_name: str, moments: Iterable[datetime]) -> list[str]:
    """The partitions for rows logged at these moments (backdated rows)."""
    months = {tables.month_start(m.astimezone(UTC)) for m in moments}
    if not months or connection.vendor != "postgresql":
        return []
    return partitions_ensure(table_name, months)


def partitions_maintain_all() -> dict[str, list[str]]:
    """Beat: every group's coming months, then its retention policy. A group that fails is
    logged and tried again on the next beat."""
    from groups.models import ModelGroup
    from inference.retention import retention_apply

    done: dict[str, list[str]] = {}
    if connection.vendor != "postgresql":
        return done
    for group in ModelGroup.objects.exclude(table_name="").order_by("pk"):
        try:
            created = partitions_ahead(group.table_name)
            removed = [r.partition for r in retention_apply(group=group)]
            done[group.slug] = created + removed
        except Exception:
            logger.exception("Partition maintenance of %s failed", group.slug)
    return done


# --- converting a plain table ---------------------------------------------------------------


@dataclass
class Conversion:
    table_name: str
    rows: int
    partitions: int
    locked_seconds: float


def _copy_rows(source: str, target: str, after_id: int, columns: list[str]) -> tuple[int, int]:
    """Copy the rows id > after_id in batches; (rows copied, last id copied)."""
    quote = connection.ops.quote_name
    names = ", ".join(quote(c) for c in columns)
    copied = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT max(id), count(*) FROM (SELECT id FROM {quote(source)} WHERE id > %s "
                f"ORDER BY id LIMIT {COPY_BATCH_ROWS}) AS batch",
                [after_id],
            )
            last, count = cursor.fetchone()
            if not count:
                return copied, after_id
            cursor.execute(
                f"INSERT INTO {quote(target)} ({names}) OVERRIDING SYSTEM VALUE SELECT {names} "
                f"FROM {quote(source)} WHERE id > %s AND id <= %s",
                [after_id, last],
            )
        copied += count
        after_id = last


def _columns(table_name: str) -> list[str]:
    with connection.cursor() as cursor:
        return [c.name for c in connection.introspection.get_table_description(cursor, table_name)]


def partition_convert(table_name: str, *, ahead: int | None = None) -> Conversion:
    """Turn a plain log table into a partitioned one, keeping predictions flowing (see
    the module doc). Feedback recorded on rows already copied is copied again at the swap
    (rows whose outcome_at is after the copy began)."""
    if tables.is_partitioned(table_name):
        return Conversion(table_name, 0, len(partitions_list(table_name)), 0.0)
    model = tables.inference_log_model(table_name)
    quote = connection.ops.quote_name
    new_name = tables.validate_identifier(tables._fit(f"{table_name}_new", table_name + "@new"))
    old_name = tables.validate_identifier(tables._fit(f"{table_name}_old", table_name + "@old"))
    columns = [f.column for f in model._meta.local_concrete_fields]
    if sorted(_columns(table_name)) != sorted(columns):
        raise ValueError(f"{table_name} has other columns than the log's: migrate it first.")
    ahead = settings.HUB_LOG_PARTITIONS_AHEAD if ahead is None else ahead
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT min(created_at) FROM {quote(table_name)}")
        oldest = cursor.fetchone()[0]
    started = timezone.now()
    this_month = tables.month_start(datetime.now(UTC))
    months = _months_between(tables.month_start(oldest or started), this_month)
    months += [tables.month_add(this_month, n) for n in range(1, ahead + 1)]
    _run(lambda editor: _create_copy(editor, model, new_name, months))
    copied, last_id = _copy_rows(table_name, new_name, 0, columns)  # while serving goes on
    lock_started = time.monotonic()
    with transaction.atomic():
        with connection.cursor() as cursor:
            # Inserts wait for the swap, then go to the new table (a statement waiting on a
            # lock looks its table's name up again once it has the lock).
            cursor.execute(f"LOCK TABLE {quote(table_name)} IN EXCLUSIVE MODE")
        more, _ = _copy_rows(table_name, new_name, last_id, columns)
        _copy_feedback(table_name, new_name, started)
        _run(lambda editor: _swap(editor, model, table_name, new_name, old_name))
    locked = time.monotonic() - lock_started
    return Conversion(table_name, copied + more, len(partitions_list(table_name)), locked)


def _run(operation: Callable[[BaseDatabaseSchemaEditor], None]) -> None:
    with transaction.atomic():
        editor = connection.schema_editor(atomic=False)
        editor.deferred_sql = []
        operation(editor)


def _create_copy(
    editor: BaseDatabaseSchemaEditor, model: type, new_name: str, months: list[date]
) -> None:
    tables.partitioned_table_create(editor, model, months=0, name=new_name)
    this_month = tables.month_start(datetime.now(UTC))
    for month in months:
        if month != this_month:
            tables.month_partition_create(editor, new_name, month)


def _copy_feedback(source: str, target: str, since: datetime) -> None:
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {quote(target)} AS t SET outcome = s.outcome, outcome_at = s.outcome_at "
            f"FROM {quote(source)} AS s WHERE s.outcome_at >= %s AND t.id = s.id "
            "AND t.created_at = s.created_at",
            [since],
        )


def _swap(
    editor: BaseDatabaseSchemaEditor, model: type, table_name: str, new_name: str, old_name: str
) -> None:
    """Old table out (dropped), new one in under the old name, ids continuing."""
    quote = editor.quote_name
    editor.execute(f"ALTER TABLE {quote(table_name)} RENAME TO {quote(old_name)}")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {quote(old_name)}")
        next_id = cursor.fetchone()[0]
    editor.execute(f"DROP TABLE {quote(old_name)}")  # its indexes go with it
    editor.execute(f"ALTER TABLE {quote(new_name)} RENAME TO {quote(table_name)}")
    for part in tables.partition_names(table_name):
        if part.startswith(new_name):
            renamed = tables.validate_identifier(
                tables._fit(table_name + part.removeprefix(new_name), f"{table_name}@{part}")
            )
            editor.execute(f"ALTER TABLE {quote(part)} RENAME TO {quote(renamed)}")
    for index in model._meta.indexes:
        editor.execute(f"ALTER INDEX {quote(index.name + '_new')} RENAME TO {quote(index.name)}")
    request_ix = tables._request_index_name(table_name)
    editor.execute(f"ALTER INDEX {quote(request_ix + '_new')} RENAME TO {quote(request_ix)}")
    editor.execute(f"ALTER TABLE {quote(table_name)} ALTER COLUMN id RESTART WITH {int(next_id)}")
