"""Retention of partitioned logs (PostgreSQL): months past a group's policy are archived
to a downloadable Parquet file and dropped, or just dropped; the months kept stay."""

import io
import uuid
from datetime import UTC, datetime

import pyarrow.parquet as pq
import pytest
from django.core.files.storage import default_storage
from django.db import connection
from django.urls import reverse

from groups.services import group_delete
from inference import partitions, serving, tables
from inference.models import ArchivedLogPartition, LogRetention, RetentionAction
from inference.retention import retention_apply, retention_cutoff
from inference.serving import PredictRequest
from inference.tasks import partitions_maintain
from tests.inference.serving_factories import credit_rows, log_model, serving_group

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="partitioned logs: PostgreSQL"),
]


def _month(months_from_now: int):
    return tables.month_add(tables.month_start(datetime.now(UTC)), months_from_now)


@pytest.fixture
def year_of_logs():
    """A group with two rows in each of the last 12 months (backdated, as the demo's)."""
    setup = serving_group(name="Retained Scoring")
    rows = credit_rows(24)
    instances = []
    for n in range(12):
        month = _month(-n)
        when = datetime(month.year, month.month, 10, tzinfo=UTC)
        instances += [
            PredictRequest(inputs=rows[2 * n], request_id=uuid.uuid4(), logged_at=when),
            PredictRequest(inputs=rows[2 * n + 1], request_id=uuid.uuid4(), logged_at=when),
        ]
    serving.predict_batch(slug=setup.group.slug, instances=instances)
    return setup


def _months(table: str) -> list:
    return [p.month for p in partitions.partitions_list(table) if p.month is not None]


def test_the_cutoff_keeps_whole_months_before_the_current_one():
    assert retention_cutoff(6, today=datetime(2026, 3, 15).date()) == datetime(2025, 9, 1).date()


def test_a_retention_run_archives_the_oldest_months_to_downloadable_parquet_files(
    year_of_logs, staff_client
):
    group = year_of_logs.group
    LogRetention.objects.create(group=group, keep_months=6, action=RetentionAction.ARCHIVE)
    expired = [m for m in _months(group.table_name) if m < _month(-6)]
    oldest = min(expired)
    oldest_ids = set(
        str(i)
        for i in log_model(group)
        .all_rows.filter(created_at__lt=datetime(oldest.year, oldest.month, 28, tzinfo=UTC))
        .values_list("request_id", flat=True)
    )

    results = retention_apply(group=group)

    assert [r.month for r in results] == sorted(expired)
    assert all(r.rows == 2 and r.freed_bytes > 0 for r in results)
    assert min(_months(group.table_name)) == _month(-6)  # the months kept are all there
    assert log_model(group).all_rows.count() == 2 * 7
    archived = ArchivedLogPartition.objects.get(table_name=group.table_name, month=oldest)
    assert archived.row_count == 2 and archived.freed_bytes > 0
    assert default_storage.exists(archived.file.name)

    response = staff_client.get(
        reverse("admin:inference_archivedlogpartition_download", args=[archived.pk])
    )
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    table = pq.read_table(io.BytesIO(b"".join(response.streaming_content)))
    assert table.num_rows == 2
    assert set(table.column("request_id").to_pylist()) == oldest_ids
    assert table.column("inputs").to_pylist()[0].startswith("{")  # the JSON, as text


def test_the_admin_lists_archived_months(year_of_logs, staff_client):
    LogRetention.objects.create(group=year_of_logs.group, keep_months=10)
    retention_apply(group=year_of_logs.group)

    page = staff_client.get(reverse("admin:inference_archivedlogpartition_changelist"))

    assert page.status_code == 200
    assert year_of_logs.group.table_name in page.content.decode()
    assert "Download Parquet" in page.content.decode()


def test_the_drop_policy_drops_without_an_archive(year_of_logs):
    group = year_of_logs.group
    LogRetention.objects.create(group=group, keep_months=3, action=RetentionAction.DROP)

    results = retention_apply(group=group)

    assert len(results) == 12 - 4  # this month and the 3 before it are kept
    assert not ArchivedLogPartition.objects.exists()
    assert log_model(group).all_rows.count() == 2 * 4


def test_a_group_without_a_policy_keeps_everything(year_of_logs):
    assert retention_apply(group=year_of_logs.group) == []
    partitions_maintain()  # beat: months ahead, retention: none
    assert log_model(year_of_logs.group).all_rows.count() == 24


def test_beat_applies_the_policy(year_of_logs):
    LogRetention.objects.create(group=year_of_logs.group, keep_months=1, action="drop")

    partitions_maintain()

    assert log_model(year_of_logs.group).all_rows.count() == 2 * 2


def test_deleting_a_group_forgets_its_policy_and_keeps_its_archives(year_of_logs):
    group = year_of_logs.group
    LogRetention.objects.create(group=group, keep_months=10)
    retention_apply(group=group)

    group_delete(group=group, actor=None)

    assert not LogRetention.objects.exists()
    archived = ArchivedLogPartition.objects.get()
    assert archived.group_id is None and archived.group_slug == "retained-scoring"


def test_the_comparison_still_answers_after_retention(year_of_logs, staff_client):
    group = year_of_logs.group
    LogRetention.objects.create(group=group, keep_months=2, action="drop")
    retention_apply(group=group)

    response = staff_client.get(f"/api/v1/groups/{group.slug}/comparison?window=7d")

    assert response.status_code == 200, response.content[:300]
