"""On PostgreSQL the comparison reads its members' labelled rows side by side, each on a
connection of its own: the same rows and the same numbers as one after the other on the
request's connection, and no connection left open."""

import time

import pytest
from django.db import connection, transaction
from django.utils import timezone

from inference import aggregates, comparison
from inference.tables import inference_log_model
from tests.inference.analytics_rows import fill_rows, make_group

ROLES = (("champion", 80), ("challenger", 10), ("shadow", 10))

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite reads on the request's connection only"
)


@pytest.fixture
def now():
    return timezone.now().replace(microsecond=0)


def _filled(now):
    group, versions = make_group(roles=ROLES)
    fill_rows(group, versions, n=900, now=now, shares=(0.8, 0.1, 0.1), skill=(1.2, 2.0, 1.5))
    return group, versions


def _backends() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_type = 'client backend'"
        )
        return cursor.fetchone()[0]


@postgresql_only
def test_members_read_side_by_side_give_the_rows_read_one_after_the_other(transactional_db, now):
    group, versions = _filled(now)
    model = inference_log_model(group.table_name)
    ids = [v.pk for v in versions]
    with aggregates.analytics_reads() as concurrent:
        assert concurrent
        reading = aggregates.scored_rows_reading(
            model, ids, None, now, concurrent=True, with_ids=True
        )
        with reading as scored_rows:
            side_by_side = scored_rows(ids)
    with aggregates.analytics_reads():
        one_by_one = {v: aggregates.scored_rows(model, v, None, now, with_ids=True) for v in ids}
    assert all(side_by_side[v].y for v in ids)
    assert side_by_side == one_by_one


@postgresql_only
def test_the_comparison_read_side_by_side_equals_the_one_read_on_one_connection(
    transactional_db, now
):
    group, _ = _filled(now)
    side_by_side = comparison.group_comparison(group=group, window="7d", now=now)
    with transaction.atomic():  # a caller's transaction: every read stays on its connection
        one_connection = comparison.group_comparison(group=group, window="7d", now=now)
    assert all(member.scored.y for member in side_by_side.members)
    assert side_by_side.as_dict() == one_connection.as_dict()
    assert side_by_side.series == one_connection.series


@postgresql_only
def test_the_members_connections_are_closed_when_read(transactional_db, now):
    group, _ = _filled(now)
    before = _backends()
    comparison.group_comparison(group=group, window="7d", now=now)
    deadline = time.monotonic() + 5
    while _backends() > before and time.monotonic() < deadline:
        time.sleep(0.05)  # a closed connection's backend exits a moment later
    assert _backends() == before


@pytest.mark.django_db
def test_reads_inside_a_transaction_stay_on_its_connection():
    # Rows the transaction wrote and has not committed are invisible to any other connection.
    with aggregates.analytics_reads() as concurrent:
        assert concurrent is False
