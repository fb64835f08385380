"""Role changes of one group queue on the group's row lock instead of interleaving."""

import threading

import pytest
from django.db import connection

from groups.models import RoleChangeAction
from groups.services import group_delete, group_promote
from tests.groups.factories import group_with_members


@pytest.mark.django_db(transaction=True)
def test_two_promotions_at_once_are_serialised_and_both_audited():
    group, (v1, v2, v3) = group_with_members(
        name="Concurrent Promotions", weights=(90, 5, 5), deletion_policy="drop"
    )
    barrier = threading.Barrier(2)
    failures: list[BaseException] = []

    def promote(version) -> None:
        try:
            barrier.wait(timeout=10)
            group_promote(group=group, model_version=version, actor=None)
        except BaseException as exc:  # reported below
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=promote, args=(v,)) for v in (v2, v3)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert failures == []
        champions = list(group.memberships.filter(role="champion"))
        assert len(champions) == 1 and champions[0].weight == 100
        first, second = group.role_changes.filter(action=RoleChangeAction.PROMOTE).order_by("id")
        # The second promotion saw the first one's result, not the state both started from.
        assert second.weights_before == first.weights_after
        assert second.from_version_id == first.to_version_id
    finally:
        group_delete(group=group, actor=None)
