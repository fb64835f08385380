"""The indexes of existing group tables brought up to date (migration 0009): the labelled
rows' index made before it INCLUDEd batch_id is built again with it, a missing one is
made, and a second run changes nothing; on PostgreSQL partitioned or plain, in or out of
a transaction (CONCURRENTLY, partition by partition, outside one), and on SQLite."""

import pytest
from django.db import connection

from inference import tables
from tests.inference.analytics_rows import fill_rows, make_group

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="INCLUDE columns are PostgreSQL's"
)


def _editor():
    # As inference/tables.py drives it: usable inside the test's transaction on SQLite too.
    editor = connection.schema_editor(atomic=False)
    editor.deferred_sql = []
    return editor


def _labelled_index(table: str) -> str:
    return next(
        i.name for i in tables.inference_log_model(table)._meta.indexes if "labelled" in i.name
    )


def _definition(index: str) -> str | None:
    """The index's definition as the database has it (None: no such index)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT pg_get_indexdef(c.oid) || CASE WHEN i.indisvalid THEN '' ELSE ' INVALID' END "
                "FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid WHERE c.relname = %s",
                [index],
            )
        else:
            cursor.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = %s", [index]
            )
        row = cursor.fetchone()
    return row[0] if row else None


def _old_labelled_index(table: str) -> None:
    """The labelled rows' index as tables made before batch_id was INCLUDEd have it."""
    quote = connection.ops.quote_name
    index = _labelled_index(table)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP INDEX {quote(index)}")
        cursor.execute(
            f"CREATE INDEX {quote(index)} ON {quote(table)} (model_version_id, created_at, id) "
            "INCLUDE (score, outcome, request_id) WHERE outcome IS NOT NULL"
        )


def _labelled_scan_uses_the_index(table: str) -> str:
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute(
            f"EXPLAIN SELECT score, outcome FROM {quote(table)} WHERE model_version_id = 1 "
            "AND outcome IS NOT NULL AND batch_id IS NULL ORDER BY created_at DESC, id DESC"
        )
        return "\n".join(row[0] for row in cursor.fetchall())


@postgres_only
@pytest.mark.django_db
def test_an_old_labelled_index_is_built_again_with_batch_id_and_a_second_run_does_nothing():
    group, versions = make_group()
    fill_rows(group, versions, n=200)
    table = group.table_name
    index = _labelled_index(table)
    _old_labelled_index(table)
    assert "batch_id" not in _definition(index)
    assert "Index Only Scan" not in _labelled_scan_uses_the_index(table)

    assert tables.inference_table_add_missing_indexes(table, _editor()) == [index]

    definition = _definition(index)
    assert "INCLUDE (score, outcome, request_id, batch_id)" in definition
    assert "WHERE (outcome IS NOT NULL)" in definition and "INVALID" not in definition
    assert "Index Only Scan" in _labelled_scan_uses_the_index(table)
    assert tables.inference_table_add_missing_indexes(table, _editor()) == []
    assert _definition(index) == definition


@postgres_only
def test_outside_a_transaction_a_partitioned_tables_index_is_built_partition_by_partition(
    transactional_db,  # by name: conftest then drops the committed group tables
):
    # As migration 0009 runs: CONCURRENTLY on each partition, attached to the table's index.
    group, versions = make_group()
    fill_rows(group, versions, n=200)
    table = group.table_name
    assert tables.is_partitioned(table)
    index = _labelled_index(table)
    _old_labelled_index(table)

    assert tables.inference_table_add_missing_indexes(table, _editor()) == [index]

    definition = _definition(index)
    assert definition.startswith(f"CREATE INDEX {index} ON ONLY public.{table}")
    assert "batch_id" in definition and "INVALID" not in definition
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(*) FILTER (WHERE pg_get_indexdef(i.inhrelid) LIKE '%%batch_id%%') "
            "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhparent WHERE c.relname = %s",
            [index],
        )
        attached, with_batch_id = cursor.fetchone()
    assert attached == len(tables.partition_names(table)) == with_batch_id
    assert not [name for name in _index_names() if name.endswith("_rebuild")]
    assert tables.inference_table_add_missing_indexes(table, _editor()) == []


@postgres_only
def test_outside_a_transaction_a_plain_tables_missing_index_is_built_concurrently(
    transactional_db,
):
    # A table not converted to partitions yet (manage.py inference_partition_logs).
    name = "inference_log_plain_legacy"
    model = tables.inference_log_model(name)
    editor = _editor()
    editor.create_model(model)
    for sql in editor.deferred_sql:
        editor.execute(sql)
    index = _labelled_index(name)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP INDEX {connection.ops.quote_name(index)}")

    assert tables.inference_table_add_missing_indexes(name, _editor()) == [index]
    assert "batch_id" in _definition(index)
    assert tables.inference_table_add_missing_indexes(name, _editor()) == []


def _index_names() -> list[str]:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.django_db
def test_a_missing_index_is_made_and_a_second_run_does_nothing_on_either_database():
    group, versions = make_group()
    fill_rows(group, versions, n=50)
    table = group.table_name
    index = _labelled_index(table)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP INDEX {connection.ops.quote_name(index)}")
    assert _definition(index) is None

    assert tables.inference_table_add_missing_indexes(table, _editor()) == [index]
    assert "outcome" in _definition(index)
    assert tables.inference_table_add_missing_indexes(table, _editor()) == []
