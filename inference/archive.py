"""Archived inference tables (a deleted group's log, kept by its 'archive' policy):
export them as CSV and drop them when they are no longer needed."""

from collections.abc import Iterator

from django.db import transaction

from inference import tables
from inference.csv_stream import csv_stream
from inference.models import ArchivedInferenceTable

EXPORT_CHUNK_ROWS = 2000


def archived_table_csv(*, archived: ArchivedInferenceTable) -> Iterator[str]:
    """The whole table as CSV lines, every column, read in chunks."""
    model = tables.inference_log_model(archived.table_name)
    columns = [field.attname for field in model._meta.concrete_fields]
    rows = (
        model.all_rows.order_by("id").values_list(*columns).iterator(chunk_size=EXPORT_CHUNK_ROWS)
        if tables.table_exists(archived.table_name)
        else []
    )
    return csv_stream(columns, rows)


@transaction.atomic
def archived_table_drop(*, archived: ArchivedInferenceTable) -> None:
    """Drop the table and forget the record, together."""
    if tables.table_exists(archived.table_name):
        tables.inference_table_drop(archived.table_name)
    archived.delete()
