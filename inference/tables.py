"""The per-group inference tables: their names, a model class for each, and their DDL.

Each group logs to its own table, created through Django's schema editor on a model
class built here, so the same code makes correct DDL on PostgreSQL (jsonb) and SQLite
and the ORM can query the table. The classes live in their own app registry so they
never reach migrations.
"""

import hashlib
import re
from collections.abc import Callable
from datetime import datetime

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
                    include=["score", "outcome", "request_id"],  # PostgreSQL only
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


def inference_table_create(table_name: str) -> type[models.Model]:
    model = inference_log_model(table_name)
    _run_ddl(lambda editor: editor.create_model(model))
    return model


def inference_table_add_missing_indexes(
    table_name: str, editor: BaseDatabaseSchemaEditor
) -> list[str]:
    """Add the indexes a table made by an earlier version of this module lacks (for a data
    migration; idempotent). On PostgreSQL CONCURRENTLY, outside any transaction: a big
    log keeps taking predictions while its index is built."""
    model = inference_log_model(table_name)
    with connection.cursor() as cursor:
        existing = set(connection.introspection.get_constraints(cursor, table_name))
    added = []
    for index in model._meta.indexes:
        if index.name in existing:
            continue
        if connection.vendor == "postgresql":
            editor.add_index(model, index, concurrently=True)
        else:
            editor.add_index(model, index)
        added.append(index.name)
    return added


def inference_table_drop(table_name: str) -> None:
    model = inference_log_model(table_name)
    _run_ddl(lambda editor: editor.delete_model(model))


def inference_table_rename(old_name: str, new_name: str) -> type[models.Model]:
    """Rename a table and its indexes (whose names follow the table's)."""
    validate_identifier(new_name)
    old = inference_log_model(old_name)
    new = inference_log_model(new_name)

    def rename(editor: BaseDatabaseSchemaEditor) -> None:
        editor.alter_db_table(old, old_name, new_name)
        for old_index, new_index in zip(old._meta.indexes, new._meta.indexes, strict=True):
            editor.rename_index(new, old_index, new_index)

    _run_ddl(rename)
    return new
