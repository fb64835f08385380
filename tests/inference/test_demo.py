"""Demo traffic: "Live Credit Scoring" with a week of real, explained, fed-back predictions."""

from datetime import timedelta

import pytest
from django.utils import timezone

from groups.models import Membership, ModelGroup
from inference import tables
from inference.demo import DEMO_GROUP_NAME, demo_traffic_seed
from inference.hours import HOUR, floor_hour
from inference.models import HourlyRollup, RollupDirtyHour, RollupState
from inference.rollup import GRACE
from registry.demo import CREDIT_FEATURES, demo_models_seed

pytestmark = pytest.mark.django_db


def test_demo_traffic_fills_the_live_group_through_the_serving_path(user):
    versions = demo_models_seed(owner=user)

    logged = demo_traffic_seed(versions=versions, requests=400, actor=user)

    group = ModelGroup.objects.get(name=DEMO_GROUP_NAME)
    assert group.table_name == "inference_log_live_credit_scoring"
    split = {m.model_version_id: (m.role, m.weight) for m in Membership.objects.filter(group=group)}
    assert split == {versions["1.2"].pk: ("champion", 90), versions["1.3"].pk: ("challenger", 10)}
    rows = list(tables.inference_log_model(group.table_name).objects.values())
    assert logged == len(rows) == 400

    by_version = {v.pk: sum(r["model_version_id"] == v.pk for r in rows) for v in versions.values()}
    assert 0.8 < by_version[versions["1.2"].pk] / 400 < 0.97
    assert all(set(r["explanation"]) == set(CREDIT_FEATURES) for r in rows)
    assert all(set(r["inputs"]) == set(CREDIT_FEATURES) for r in rows)

    now = timezone.now()
    times = [r["created_at"] for r in rows]
    assert min(times) >= now - timedelta(days=7, minutes=1)
    assert max(times) <= now
    assert len({t.date() for t in times}) >= 7  # spread over the week

    with_outcome = [r for r in rows if r["outcome"] is not None]
    assert 0.7 < len(with_outcome) / 400 < 0.9
    assert {r["outcome"] for r in with_outcome} == {0, 1}

    assert demo_traffic_seed(versions=versions, requests=400, actor=user) == 0
    assert tables.inference_log_model(group.table_name).objects.count() == 400


def test_the_demo_week_starts_rolled_up(user):
    versions = demo_models_seed(owner=user)

    demo_traffic_seed(versions=versions, requests=200, actor=user)

    group = ModelGroup.objects.get(name=DEMO_GROUP_NAME)
    state = RollupState.objects.get(group=group)
    assert state.rolled_until >= floor_hour(timezone.now() - GRACE) - HOUR
    assert not RollupDirtyHour.objects.filter(group=group).exists()
    log = tables.inference_log_model(group.table_name)
    assert sum(HourlyRollup.objects.filter(group=group).values_list("requests", flat=True)) == (
        log.objects.filter(created_at__lt=state.rolled_until).count()
    )
