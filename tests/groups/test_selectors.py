"""The cached routing table: one consistent snapshot, replaced whole on every committed change."""

import pytest
from django.test import override_settings

from groups.selectors import routing_cache_clear, routing_generation, routing_table
from groups.services import group_promote, group_set_traffic
from tests.groups.factories import group_with_members

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_tables():
    routing_cache_clear()
    yield
    routing_cache_clear()


def split(slug: str) -> dict[int, tuple[str, int]]:
    table = routing_table(slug)
    return {m.version_id: (m.role, m.weight) for m in table.members}


def test_routing_table_describes_the_group(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        group, (champion, challenger) = group_with_members(weights=(90, 10))
    table = routing_table("live-credit-scoring")
    assert (table.group_id, table.slug, table.table_name) == (
        group.pk,
        group.slug,
        group.table_name,
    )
    assert table.features == tuple(group.features)
    assert split(group.slug) == {champion.pk: ("champion", 90), challenger.pk: ("challenger", 10)}
    member = next(m for m in table.members if m.version_id == champion.pk)
    assert (member.model_name, member.version) == (champion.model.name, champion.version)


def test_unknown_group_has_no_routing_table():
    assert routing_table("nope") is None


def test_routing_table_is_served_from_the_process_cache(django_assert_num_queries):
    group, _ = group_with_members()
    routing_table(group.slug)
    with django_assert_num_queries(0):
        routing_table(group.slug)


def test_promotion_is_seen_after_commit_and_not_before(django_capture_on_commit_callbacks):
    group, (champion, challenger) = group_with_members(weights=(90, 10))
    assert split(group.slug)[champion.pk] == ("champion", 90)
    generation = routing_generation()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        group_promote(group=group, model_version=challenger, actor=None)
    # Not committed yet: the cached configuration still stands, whole.
    assert split(group.slug)[champion.pk] == ("champion", 90)
    for callback in callbacks:
        callback()
    assert routing_generation() != generation
    assert split(group.slug) == {champion.pk: ("challenger", 0), challenger.pk: ("champion", 100)}


def test_set_traffic_bumps_the_generation_on_commit(django_capture_on_commit_callbacks):
    group, (champion, challenger) = group_with_members(weights=(90, 10))
    routing_table(group.slug)
    with django_capture_on_commit_callbacks(execute=True):
        group_set_traffic(group=group, weights={champion.pk: 50, challenger.pk: 50}, actor=None)
    assert split(group.slug) == {champion.pk: ("champion", 50), challenger.pk: ("challenger", 50)}


def test_a_settings_override_forces_one_version():
    group, (champion, challenger) = group_with_members(weights=(90, 10))
    with override_settings(HUB_ROUTING_OVERRIDES={group.slug: str(challenger.pk)}):
        assert split(group.slug) == {challenger.pk: ("challenger", 100)}
    assert split(group.slug)[champion.pk] == ("champion", 90)


def test_a_process_local_cache_rereads_changes_made_by_other_processes(monkeypatch):
    from groups import routing_cache as selectors

    group, (champion, challenger) = group_with_members(weights=(90, 10))
    clock = [1000.0]
    monkeypatch.setattr(selectors, "_cache_is_process_local", lambda: True)
    monkeypatch.setattr(selectors.time, "monotonic", lambda: clock[0])
    assert split(group.slug)[challenger.pk] == ("challenger", 10)
    # Another process (a Celery worker) changed the weights and bumped *its own* local cache.
    group.memberships.filter(model_version=champion).update(weight=50)
    group.memberships.filter(model_version=challenger).update(weight=50)
    assert split(group.slug)[challenger.pk] == ("challenger", 10)
    clock[0] += selectors.PROCESS_LOCAL_TTL_SECONDS
    assert split(group.slug)[challenger.pk] == ("challenger", 50)
