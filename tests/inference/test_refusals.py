"""The per-group, per-hour refusal counters (inference/refusals.py): an atomic increment
that loses nothing under concurrent requests, and counters that go with their group."""

import threading
from datetime import UTC, datetime

import pytest
from django.db import connection

from groups.services import group_delete
from inference.models import RefusalCount
from inference.refusals import count_refusal
from tests.groups.factories import group_with_members

THREADS = 8
PER_THREAD = 25


def _counts(group) -> dict:
    return {(row.hour, row.reason): row.count for row in RefusalCount.objects.filter(group=group)}


@pytest.mark.django_db
def test_counts_add_up_per_hour_and_reason():
    group, _ = group_with_members(deletion_policy="drop")
    first = datetime(2026, 3, 1, 9, 15, tzinfo=UTC)
    count_refusal(group_id=group.pk, reason="missing_field", at=first)
    count_refusal(group_id=group.pk, reason="missing_field", count=4, at=first.replace(minute=59))
    count_refusal(group_id=group.pk, reason="wrong_type", at=first)
    count_refusal(group_id=group.pk, reason="missing_field", at=first.replace(hour=10))

    nine, ten = first.replace(minute=0), first.replace(hour=10, minute=0)
    assert _counts(group) == {
        (nine, "missing_field"): 5,
        (nine, "wrong_type"): 1,
        (ten, "missing_field"): 1,
    }


@pytest.mark.django_db(transaction=True)
def test_concurrent_increments_of_a_new_counter_lose_nothing():
    group, _ = group_with_members(deletion_policy="drop")
    hour = datetime(2026, 3, 1, 9, tzinfo=UTC)
    start = threading.Barrier(THREADS)
    failures: list[BaseException] = []

    def refuse() -> None:
        try:
            start.wait()  # every thread races for the hour's first row
            for _ in range(PER_THREAD):
                count_refusal(group_id=group.pk, reason="missing_field", at=hour)
        except BaseException as exc:  # shown by the assertion below
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=refuse) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert _counts(group) == {(hour, "missing_field"): THREADS * PER_THREAD}
    group_delete(group=group, actor=None)


@pytest.mark.django_db
def test_deleting_a_group_deletes_its_refusal_counts():
    group, _ = group_with_members(deletion_policy="drop")
    other, _ = group_with_members(name="Other Scoring", deletion_policy="drop")
    count_refusal(group_id=group.pk, reason="missing_field")
    count_refusal(group_id=other.pk, reason="missing_field")

    group_delete(group=group, actor=None)

    assert list(RefusalCount.objects.values_list("group_id", flat=True)) == [other.pk]
