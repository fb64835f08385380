"""What the database's own catalogue says about a group's inference table."""

from django.db import connection


def table_names() -> set[str]:
    with connection.cursor() as cursor:
        return set(connection.introspection.table_names(cursor))


def assert_inference_table(table_name: str) -> None:
    """The table exists with the logging columns, its two indexes, and jsonb on PostgreSQL."""
    with connection.cursor() as cursor:
        assert table_name in connection.introspection.table_names(cursor)
        columns = {
            c.name for c in connection.introspection.get_table_description(cursor, table_name)
        }
        constraints = connection.introspection.get_constraints(cursor, table_name)
        json_types = None
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_name = %s AND column_name IN ('inputs', 'prediction', 'explanation', 'outcome')",
                [table_name],
            )
            json_types = dict(cursor.fetchall())
    assert {
        "id",
        "request_id",
        "model_version_id",
        "role",
        "routing_key",
        "inputs",
        "prediction",
        "score",
        "explanation",
        "latency_ms",
        "created_at",
        "outcome",
        "outcome_at",
    } <= columns
    indexed = {tuple(c["columns"]) for c in constraints.values() if c["index"]}
    assert ("created_at",) in indexed
    assert ("model_version_id", "created_at") in indexed
    if json_types is not None:
        assert json_types == dict.fromkeys(
            ("inputs", "prediction", "explanation", "outcome"), "jsonb"
        )
