"""Archived inference tables (a deleted group's log, kept by its 'archive' policy):
export them as CSV and drop them when they are no longer needed."""

import csv
import json
from collections.abc import Iterator
from typing import Any

from django.db import transaction

from inference import tables
from inference.models import ArchivedInferenceTable

CSV_COLUMNS = [
    "id",
    "request_id",
    "model_version_id",
    "role",
    "routing_key",
    "inputs",
    "prediction",
    "score",
    "explanation",
    "base_value",
    "latency_ms",
    "fallback",
    "error",
    "created_at",
    "outcome",
    "outcome_at",
]
_JSON_COLUMNS = {"inputs", "prediction", "explanation", "outcome"}
EXPORT_CHUNK_ROWS = 2000


class _Line:
    """A file-like object csv.writer writes one line into, which we hand on at once."""

    def write(self, value: str) -> str:
        return value


def _cell(column: str, value: Any) -> Any:
    if value is None:
        return ""
    if column in _JSON_COLUMNS:
        return json.dumps(value, separators=(",", ":"))
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def archived_table_csv(*, archived: ArchivedInferenceTable) -> Iterator[str]:
    """The table as CSV lines, read in chunks (never the whole table in memory)."""
    writer = csv.writer(_Line())
    yield writer.writerow(CSV_COLUMNS)
    if not tables.table_exists(archived.table_name):
        return
    model = tables.inference_log_model(archived.table_name)
    rows = model.objects.order_by("id").values_list(*CSV_COLUMNS).iterator(chunk_size=EXPORT_CHUNK_ROWS)
    for row in rows:
        yield writer.writerow([_cell(c, v) for c, v in zip(CSV_COLUMNS, row, strict=True)])


@transaction.atomic
def archived_table_drop(*, archived: ArchivedInferenceTable) -> None:
    """Drop the table and forget the record, together."""
    if tables.table_exists(archived.table_name):
        tables.inference_table_drop(archived.table_name)
    archived.delete()
