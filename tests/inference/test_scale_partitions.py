"""Group logs partitioned by month on PostgreSQL (a plain table on SQLite): made with the
group, months made ahead by beat, backdated rows, and the conversion of a plain table."""

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import override_settings

from inference import partitions, serving, tables
from inference.serving import PredictRequest
from inference.tasks import partitions_maintain
from tests.inference.serving_factories import credit_rows, log_model, post, serving_group

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="partitioned logs are PostgreSQL's"
)


def _partitioned_tables() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid"
        )
        return [row[0] for row in cursor.fetchall()]


def _partition_of(table_name: str, request_id: uuid.UUID) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT tableoid::regclass::text FROM {connection.ops.quote_name(table_name)} "
            "WHERE request_id = %s",
            [request_id],
        )
        return cursor.fetchone()[0]


def _month(months_from_now: int):
    return tables.month_add(tables.month_start(datetime.now(UTC)), months_from_now)


@postgres_only
@pytest.mark.django_db
@override_settings(HUB_LOG_PARTITIONS_AHEAD=2)
def test_a_new_groups_table_is_partitioned_by_month_with_months_ahead():
    setup = serving_group(name="Partitioned Scoring")
    table = setup.group.table_name

    assert table in _partitioned_tables()
    months = [p.month for p in partitions.partitions_list(table)]
    assert months == [_month(0), _month(1), _month(2), None]  # None: the default partition
    assert tables.partition_name(table, _month(0)) == f"{table}_p{_month(0):%Y%m}"


@pytest.mark.django_db
def test_sqlite_keeps_a_plain_table():
    if connection.vendor == "postgresql":
        pytest.skip("SQLite's behaviour")
    setup = serving_group(name="Plain Scoring")
    assert not tables.is_partitioned(setup.group.table_name)
    assert partitions.partitions_ahead(setup.group.table_name) == []


@postgres_only
@pytest.mark.django_db
def test_a_prediction_lands_in_this_months_partition(client):
    setup = serving_group(name="Partitioned Scoring")
    answer = post(client, setup.predict_url, {"inputs": credit_rows(1)[0]}, setup.key).json()

    partition = _partition_of(setup.group.table_name, uuid.UUID(answer["request_id"]))
    assert partition == tables.partition_name(setup.group.table_name, _month(0))


@postgres_only
@pytest.mark.django_db
def test_beat_makes_the_coming_months_partitions(settings):
    setup = serving_group(name="Partitioned Scoring")
    table = setup.group.table_name
    settings.HUB_LOG_PARTITIONS_AHEAD = 5

    partitions_maintain()

    months = {p.month for p in partitions.partitions_list(table)}
    assert {_month(n) for n in range(6)} <= months


@postgres_only
@pytest.mark.django_db
def test_a_backdated_row_gets_its_months_partition_first():
    setup = serving_group(name="Partitioned Scoring")
    table = setup.group.table_name
    when = datetime.now(UTC) - timedelta(days=200)
    request_id = uuid.uuid4()

    serving.predict_batch(
        slug=setup.group.slug,
        instances=[PredictRequest(inputs=credit_rows(1)[0], request_id=request_id, logged_at=when)],
    )

    assert _partition_of(table, request_id) == tables.partition_name(
        table, tables.month_start(when)
    )


@postgres_only
@pytest.mark.django_db
def test_rows_in_the_default_partition_move_into_their_month_when_it_is_made():
    setup = serving_group(name="Partitioned Scoring")
    table = setup.group.table_name
    far = _month(10)
    request_id = uuid.uuid4()
    serving.log_insert(table, [_row(request_id, datetime(far.year, far.month, 3, tzinfo=UTC))])
    assert _partition_of(table, request_id) == tables.default_partition_name(table)

    assert partitions.partitions_ensure(table, [far]) == [tables.partition_name(table, far)]

    assert _partition_of(table, request_id) == tables.partition_name(table, far)
    assert log_model(setup.group).objects.filter(request_id=request_id).count() == 1


def _row(request_id: uuid.UUID, when: datetime, version_id: int = 1) -> dict:
    return {
        "request_id": request_id,
        "model_version_id": version_id,
        "role": "champion",
        "routing_key": "",
        "inputs": {"income": 1.0},
        "prediction": 1,
        "score": 0.9,
        "explanation": None,
        "base_value": None,
        "latency_ms": 1.0,
        "fallback": False,
        "error": "",
        "created_at": when,
    }


@postgres_only
@pytest.mark.django_db
def test_the_browser_and_feedback_work_across_month_partitions(client, staff_client):
    setup = serving_group(name="Partitioned Scoring")
    table = setup.group.table_name
    old, new = uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    serving.predict_batch(
        slug=setup.group.slug,
        instances=[
            PredictRequest(
                inputs=credit_rows(1)[0], request_id=old, logged_at=now - timedelta(days=70)
            ),
            PredictRequest(inputs=credit_rows(2)[1], request_id=new),
        ],
    )
    assert _partition_of(table, old) != _partition_of(table, new)

    for request_id in (old, new):
        response = post(
            client, setup.feedback_url, {"request_id": str(request_id), "outcome": 1}, setup.key
        )
        assert response.json()["status"] == "recorded"
    page = staff_client.get(f"/groups/{setup.group.slug}/inferences/")
    assert page.status_code == 200
    body = page.content.decode()
    assert str(old) in body and str(new) in body


# --- converting a plain table, predictions flowing -----------------------------------------


def _plain_table(table_name: str) -> None:
    """A group table as the release before partitioning made it."""
    model = tables.inference_log_model(table_name)
    tables.inference_table_drop(table_name)
    tables._run_ddl(lambda editor: editor.create_model(model))


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_converting_a_plain_table_keeps_every_row_while_predictions_flow():
    setup = serving_group(name="Converted Scoring")
    table = setup.group.table_name
    _plain_table(table)
    assert not tables.is_partitioned(table)
    now = datetime.now(UTC)
    old_rows = [_row(uuid.uuid4(), now - timedelta(days=40 * n)) for n in range(1, 4)]
    serving.log_insert(table, old_rows)
    logged: list[uuid.UUID] = []
    stop = threading.Event()

    def predict_meanwhile() -> None:
        rows = credit_rows(20)
        n = 0
        while not stop.is_set():
            answer = serving.predict_one(slug=setup.group.slug, inputs=rows[n % 20])
            logged.append(uuid.UUID(answer["request_id"]))
            n += 1
        from django.db import connection as own

        own.close()

    thread = threading.Thread(target=predict_meanwhile)
    thread.start()
    try:
        while len(logged) < 5:
            threading.Event().wait(0.05)
        partitions.partition_convert(table)
        converted_at = len(logged)
        while len(logged) < converted_at + 5:  # and some more after the swap
            threading.Event().wait(0.05)
    finally:
        stop.set()
        thread.join(timeout=30)

    assert tables.is_partitioned(table)
    ids = list(log_model(setup.group).all_rows.values_list("request_id", flat=True))
    assert len(ids) == len(set(ids))  # none twice
    assert set(logged) | {r["request_id"] for r in old_rows} == set(ids)  # none lost
    # The oldest rows sit in their months' partitions; new ids continue after the old ones.
    first = old_rows[-1]["request_id"]
    assert _partition_of(table, first) == tables.partition_name(
        table, tables.month_start(old_rows[-1]["created_at"])
    )
    serving.log_insert(table, [_row(uuid.uuid4(), now)])
    top = log_model(setup.group).all_rows.order_by("-id").values_list("id", flat=True)
    assert top[0] > top[1]
