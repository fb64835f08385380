"""The per-group inference tables: their names, a model class for each, and their DDL.

Each group logs to its own table, created through Django's schema editor on a model
class built here, so the same code makes correct DDL on PostgreSQL (jsonb) and SQLite
and the ORM can query the table. The classes live in their own app registry so they
never reach migrations.
"""

import hashlib
import re
from collections.abc import Callable
from datetime import UTC, date, datetime

from django.apps.registry import Apps
from django.db import connection, models, transaction
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

MAX_IDENTIFIER_BYTES = 63  # PostgreSQL's limit; SQLite has none, we keep one rule
TABLE_PREFIX = "inference_log_"
ARCHIVE_PREFIX = "archived_inference_log_"
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")

_registry = Apps()
_classes: dict[str, type[models.Model]] = {}


class InvalidTableName(ValueError):
    pass


def _short_hash(text: str, length: int = 8) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _fit(name: str, seed: str) -> str:
    """Shorten a name past PostgreSQL's limit, keeping it unique with a short hash."""
    if len(name) <= MAX_IDENTIFIER_BYTES:
        return name
    suffix = "_" + _short_hash(seed)
    return name[: MAX_IDENTIFIER_BYTES - len(suffix)].rstrip("_") + suffix


def validate_identifier(name: str) -> str:
    if not _IDENTIFIER.match(name) or len(name.encode()) > MAX_IDENTIFIER_BYTES:
        raise InvalidTableName(
            f"{name!r} is not a valid table name: use a-z, 0-9 and _, at most 63 bytes."
        )
    return name


def _slug_part(slug: str) -> str:
    part = re.sub(r"[^a-z0-9_]", "_", slug.lower().replace("-", "_"))
    return re.sub(r"_+", "_", part).strip("_") or "group"


def inference_table_name(slug: str) -> str:
    """`Live Credit Scoring` (slug live-credit-scoring) -> inference_log_live_credit_scoring."""
    return validate_identifier(_fit(TABLE_PREFIX + _slug_part(slug), slug))


def archived_table_name(slug: str, when: datetime) -> str:
    name = f"{ARCHIVE_PREFIX}{_slug_part(slug)}_{when:%Y%m%d%H%M%S}"
    return validate_identifier(_fit(name, f"{slug}@{when.isoformat()}"))


def _index_names(table_name: str) -> tuple[str, str, str]:
    # Index names are global in both databases: derive them from the table's own name.
    digest = _short_hash(table_name, 12)
    return f"ix_{digest}_created", f"ix_{digest}_version_created", f"ix_{digest}_labelled"


def _request_index_name(table_name: str) -> str:
    # Partitioned tables only: their unique constraints must hold the month, so request_id
    # gets a plain index (serving keeps ids unique, inference/serving/).
    return f"ix_{_short_hash(table_name, 12)}_request"


def month_start(when: datetime | date) -> date:
    return date(when.year, when.month, 1)


def month_add(month: date, months: int) -> date:
    index = month.year * 12 + month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def partition_name(table_name: str, month: date) -> str:
    """`inference_log_x` -> `inference_log_x_p202501` (its rows of January 2025)."""
    return validate_identifier(_fit(f"{table_name}_p{month:%Y%m}", f"{table_name}@{month}"))


def default_partition_name(table_name: str) -> str:
    """The partition of rows no month's partition takes (none, while beat runs)."""
    return validate_identifier(_fit(f"{table_name}_pdefault", f"{table_name}@default"))


class LiveRows(models.Manager):
    """Rows logged by live traffic: not by a batch job."""

    def get_queryset(self) -> models.QuerySet:
        return super().get_queryset().filter(batch_id__isnull=True)


BATCH_COLUMNS = ("batch_id",)
# Multiclass models' class probabilities, for live log loss and top-k accuracy.
TASK_COLUMNS = ("probabilities",)


def inference_table_add_missing_columns(
    table_name: str, editor: BaseDatabaseSchemaEditor
) -> list[str]:
    """Add the columns a table made by an earlier version of this module lacks (for a data
    migration; idempotent). Nullable without a default: instant on PostgreSQL."""
    model = inference_log_model(table_name)
    with connection.cursor() as cursor:
        existing = {
            c.name for c in connection.introspection.get_table_description(cursor, table_name)
        }
    added = []
    for name in (*BATCH_COLUMNS, *TASK_COLUMNS):
        field = model._meta.get_field(name)
        if field.column not in existing:
            editor.add_field(model, field)
            added.append(field.column)
    return added


def inference_log_model(table_name: str) -> type[models.Model]:
    """The model class for one inference table (built once per process, then reused)."""
    if table_name in _classes:
        return _classes[table_name]
    validate_identifier(table_name)
    created_ix, version_ix, labelled_ix = _index_names(table_name)
    meta = type(
        "Meta",
        (),
        {
            "app_label": "inference",
            "db_table": table_name,
            "apps": _registry,
            "ordering": ["-created_at", "-id"],
            "indexes": [
                models.Index(fields=["created_at"], name=created_ix),
                models.Index(fields=["model_version_id", "created_at"], name=version_ix),
                # A member's labelled rows newest first, with all the comparison reads of
                # them (aggregates.scored_rows): on PostgreSQL an index-only scan instead of
                # a heap page per row. Partial: a prediction is logged without an outcome, so
                # the INSERT on the serving path never writes to it; feedback adds the entry.
                models.Index(
                    fields=["model_version_id", "created_at", "id"],
                    # batch_id: the live rows' filter (LiveRows) answered from the index too.
                    include=["score", "outcome", "request_id", "batch_id"],  # PostgreSQL only
                    condition=models.Q(outcome__isnull=False),
                    name=labelled_ix,
                ),
            ],
        },
    )
    attrs = {
        "__module__": __name__,
        "Meta": meta,
        "id": models.BigAutoField(primary_key=True),
        "request_id": models.UUIDField(unique=True),
        "model_version_id": models.BigIntegerField(),
        "role": models.CharField(max_length=16),
        "routing_key": models.CharField(max_length=200, blank=True, default=""),
        "inputs": models.JSONField(),
        "prediction": models.JSONField(null=True),
        "score": models.FloatField(null=True),
        # Multiclass only: {class: probability} for every class the model knows.
        "probabilities": models.JSONField(null=True),
        # SHAP values of this prediction {feature: value} and the explainer's base value.
        "explanation": models.JSONField(null=True),
        "base_value": models.FloatField(null=True),
        "latency_ms": models.FloatField(default=0),
        # True when the routed member could not serve and the champion answered instead.
        "fallback": models.BooleanField(default=False),
        "error": models.TextField(blank=True, default=""),
        "created_at": models.DateTimeField(),
        "outcome": models.JSONField(null=True),
        "outcome_at": models.DateTimeField(null=True),
        # The batch job that logged the row (inference/batch.py); null for live traffic.
        "batch_id": models.UUIDField(null=True),
        # The default manager reads live rows only, so the comparison, roll-ups, monitoring
        # and rollouts leave batch rows out; `all_rows` (the inference browser) reads both.
        "objects": LiveRows(),
        "all_rows": models.Manager(),
    }
    class_name = "InferenceLog_" + _short_hash(table_name, 16)
    model = type(class_name, (models.Model,), attrs)
    _classes[table_name] = model
    return model


def _run_ddl(operation: Callable[[BaseDatabaseSchemaEditor], None]) -> None:
    """Run schema changes inside the caller's transaction.

    SQLite's schema editor refuses `with` inside atomic() because it wants to switch off
    foreign-key checks, which SQLite cannot do mid-transaction. These tables have no
    foreign keys, so the editor is driven by hand (its deferred SQL, the indexes, run
    last) the same way on both databases.
    """
    with transaction.atomic():
        editor = connection.schema_editor(atomic=False)
        editor.deferred_sql = []  # what __enter__ would set up
        operation(editor)
        for sql in editor.deferred_sql:
            editor.execute(sql)


def table_exists(table_name: str) -> bool:
    with connection.cursor() as cursor:
        return table_name in connection.introspection.table_names(cursor)


def inference_table_create(table_name: str, *, months: int = 0) -> type[models.Model]:
    """The group's table: on PostgreSQL partitioned by month (this month and `months`
    ahead, and a default partition), a plain table on SQLite."""
    model = inference_log_model(table_name)
    if connection.vendor == "postgresql":
        _run_ddl(lambda editor: partitioned_table_create(editor, model, months=months))
    else:
        _run_ddl(lambda editor: editor.create_model(model))
    return model


def _column_sql(editor: BaseDatabaseSchemaEditor, field: models.Field) -> str:
    name = editor.quote_name(field.column)
    if field.primary_key:
        return f"{name} bigint GENERATED BY DEFAULT AS IDENTITY"
    return f"{name} {field.db_type(connection)}{'' if field.null else ' NOT NULL'}"


def partitioned_table_create(
    editor: BaseDatabaseSchemaEditor, model: type[models.Model], *, months: int = 0, name: str = ""
) -> None:
    """CREATE TABLE ... PARTITION BY RANGE (created_at), its default partition, its indexes
    (made on every partition by PostgreSQL) and this month's partition and `months` more.
    The primary key holds the partition key, as PostgreSQL requires: (created_at, id),
    which also serves the browser's newest-first order. `name`: build the table under
    another name (the conversion command), with the model's columns and indexes."""
    quote = editor.quote_name
    table = name or model._meta.db_table
    columns = [_column_sql(editor, field) for field in model._meta.local_concrete_fields]
    columns.append(f"PRIMARY KEY ({quote('created_at')}, {quote('id')})")
    editor.execute(
        f"CREATE TABLE {quote(table)} ({', '.join(columns)}) PARTITION BY RANGE "
        f"({quote('created_at')})"
    )
    editor.execute(
        f"CREATE TABLE {quote(default_partition_name(table))} PARTITION OF {quote(table)} DEFAULT"
    )
    for index in model._meta.indexes:
        sql = str(index.create_sql(model, editor))
        if name:
            sql = sql.replace(quote(model._meta.db_table), quote(table), 1)
            sql = sql.replace(quote(index.name), quote(f"{index.name}_new"), 1)
        editor.execute(sql)
    request_ix = _request_index_name(model._meta.db_table) + ("_new" if name else "")
    editor.execute(f"CREATE INDEX {quote(request_ix)} ON {quote(table)} ({quote('request_id')})")
    this_month = month_start(datetime.now(UTC))
    for ahead in range(months + 1):
        month_partition_create(editor, table, month_add(this_month, ahead))


def month_partition_create(editor: BaseDatabaseSchemaEditor, table_name: str, month: date) -> str:
    """The partition of one month, [first day, first day of the next) in UTC."""
    quote = editor.quote_name
    name = partition_name(table_name, month)
    editor.execute(
        f"CREATE TABLE {quote(name)} PARTITION OF {quote(table_name)} FOR VALUES "
        f"FROM ('{month:%Y-%m-%d} 00:00+00') TO ('{month_add(month, 1):%Y-%m-%d} 00:00+00')"
    )
    return name


def is_partitioned(table_name: str) -> bool:
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
            "WHERE c.relname = %s AND pg_table_is_visible(c.oid)",
            [table_name],
        )
        return cursor.fetchone() is not None


def inference_table_add_missing_indexes(
    table_name: str, editor: BaseDatabaseSchemaEditor
) -> list[str]:
    """Add the indexes a table made by an earlier version of this module lacks, and on
    PostgreSQL build again those whose columns changed since (the labelled rows' index
    gained `batch_id` in its INCLUDE) or whose build was interrupted. For a data
    migration; idempotent: a second run changes nothing. Outside a transaction the
    indexes are built CONCURRENTLY (on a partitioned table, partition by partition): a
    big log keeps taking predictions while they are built."""
    model = inference_log_model(table_name)
    with connection.cursor() as cursor:
        existing = set(connection.introspection.get_constraints(cursor, table_name))
    changed = []
    for index in model._meta.indexes:
        if connection.vendor != "postgresql":
            if index.name not in existing:  # SQLite: no INCLUDE, nothing to build again
                editor.add_index(model, index)
                changed.append(index.name)
        elif index.name not in existing or not _index_current(index):
            _index_rebuild(editor, model, index)
            changed.append(index.name)
    return changed


def _index_current(index: models.Index) -> bool:
    """Whether the PostgreSQL index of this name is valid and has the key and included
    columns the model declares."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.attname, k.ord <= i.indnkeyatts, i.indisvalid FROM pg_class c "
            "JOIN pg_index i ON i.indexrelid = c.oid "
            "CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) "
            "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
            "WHERE c.relname = %s AND pg_table_is_visible(c.oid) ORDER BY k.ord",
            [index.name],
        )
        rows = cursor.fetchall()
    keys = [name for name, is_key, _ in rows if is_key]
    included = {name for name, is_key, _ in rows if not is_key}
    valid = all(is_valid for _, _, is_valid in rows)
    return bool(rows) and valid and keys == list(index.fields) and included == set(index.include)


def _index_rebuild(
    editor: BaseDatabaseSchemaEditor, model: type[models.Model], index: models.Index
) -> None:
    """Build the index under a temporary name, drop the old one (if any), rename the new.
    Run again after an interruption, it starts over from the leftovers."""
    quote = editor.quote_name
    table = model._meta.db_table
    temporary = f"{index.name}_rebuild"
    _index_drop(editor, table, temporary)
    _index_create(editor, model, index, temporary)
    _index_drop(editor, table, index.name)
    editor.execute(f"ALTER INDEX {quote(temporary)} RENAME TO {quote(index.name)}")


def _concurrently() -> bool:
    # CREATE / DROP INDEX CONCURRENTLY cannot run inside a transaction block.
    return not connection.in_atomic_block


def _index_sql(
    editor: BaseDatabaseSchemaEditor,
    model: type[models.Model],
    index: models.Index,
    name: str,
    *,
    table: str = "",
    only: bool = False,
    concurrently: bool = False,
) -> str:
    """The index's CREATE INDEX under another name, on another table (a partition), or
    ON ONLY a partitioned table."""
    quote = editor.quote_name
    sql = str(index.create_sql(model, editor, concurrently=concurrently))
    sql = sql.replace(quote(index.name), quote(name), 1)
    target = quote(table or model._meta.db_table)
    on = f" ON {'ONLY ' if only else ''}{target}"
    return sql.replace(f" ON {quote(model._meta.db_table)}", on, 1)


def _index_create(
    editor: BaseDatabaseSchemaEditor, model: type[models.Model], index: models.Index, name: str
) -> None:
    table = model._meta.db_table
    concurrently = _concurrently()
    if not (concurrently and is_partitioned(table)):
        editor.execute(_index_sql(editor, model, index, name, concurrently=concurrently))
        return
    # CONCURRENTLY cannot build an index on a partitioned table: it is made ON ONLY the
    # table (invalid, so unused), built concurrently on each partition and attached; it
    # turns valid once every partition's is attached.
    quote = editor.quote_name
    editor.execute(_index_sql(editor, model, index, name, only=True))
    for partition in partition_names(table):
        child = f"ix_{_short_hash(f'{partition}@{name}', 16)}"
        editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {quote(child)}")
        editor.execute(_index_sql(editor, model, index, child, table=partition, concurrently=True))
        editor.execute(f"ALTER INDEX {quote(name)} ATTACH PARTITION {quote(child)}")


def _index_drop(editor: BaseDatabaseSchemaEditor, table: str, name: str) -> None:
    # A partitioned table's index is dropped with its partitions' in one (short) statement:
    # PostgreSQL has no DROP INDEX CONCURRENTLY for it.
    concurrently = _concurrently() and not is_partitioned(table)
    editor.execute(
        f"DROP INDEX {'CONCURRENTLY ' if concurrently else ''}IF EXISTS {editor.quote_name(name)}"
    )


def inference_table_drop(table_name: str) -> None:
    model = inference_log_model(table_name)
    _run_ddl(lambda editor: editor.delete_model(model))


def inference_table_rename(old_name: str, new_name: str) -> type[models.Model]:
    """Rename a table and its indexes (whose names follow the table's)."""
    validate_identifier(new_name)
    old = inference_log_model(old_name)
    new = inference_log_model(new_name)

    partitioned = is_partitioned(old_name)
    parts = partition_names(old_name) if partitioned else []

    def rename(editor: BaseDatabaseSchemaEditor) -> None:
        editor.alter_db_table(old, old_name, new_name)
        for old_index, new_index in zip(old._meta.indexes, new._meta.indexes, strict=True):
            editor.rename_index(new, old_index, new_index)
        if partitioned:
            _rename_partitions(editor, old_name, new_name, parts)

    _run_ddl(rename)
    return new


def partition_names(table_name: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass ORDER BY c.relname",
            [connection.ops.quote_name(table_name)],
        )
        return [row[0] for row in cursor.fetchall()]


def _rename_partitions(
    editor: BaseDatabaseSchemaEditor, old_name: str, new_name: str, parts: list[str]
) -> None:
    """Partition names follow their table's, so a new group of the same slug can make its
    own; the request index too (the model's indexes are renamed by the caller)."""
    quote = editor.quote_name
    for part in parts:
        suffix = part.removeprefix(old_name) if part.startswith(old_name) else f"_{part[-8:]}"
        renamed = validate_identifier(_fit(f"{new_name}{suffix}", f"{new_name}@{part}"))
        editor.execute(f"ALTER TABLE {quote(part)} RENAME TO {quote(renamed)}")
    editor.execute(
        f"ALTER INDEX IF EXISTS {quote(_request_index_name(old_name))} "
        f"RENAME TO {quote(_request_index_name(new_name))}"
    )
