"""Time travel: the group at any past moment, read from the audit trail, with the
comparison kept as evidence by every promotion, rollback, traffic change and approval."""

import time
from urllib.parse import quote

import pytest
from django.utils import timezone

from groups.models import RoleChange, RoleChangeAction
from groups.services import group_promote, group_rollback, group_set_traffic, pending_change_approve
from tests.groups.factories import group_with_members

pytestmark = pytest.mark.django_db


def _moment() -> str:
    time.sleep(0.01)  # the next change is strictly after this moment
    moment = timezone.now()
    time.sleep(0.01)
    return quote(moment.isoformat())


def _champion(body: dict) -> str:
    return next(f"{m['model']} {m['version']}" for m in body["members"] if m["role"] == "champion")


def _auc(comparison: dict, version: str) -> dict:
    member = next(m for m in comparison["members"] if m["version"] == version)
    return member["metrics"]["auc"]


def _promoted_with_moments(demo) -> tuple[str, str]:
    """A canary step (80/20), then 1.3 promoted: the moments just before and after."""
    v12, v13 = demo.versions["1.2"], demo.versions["1.3"]
    group_set_traffic(group=demo.group, weights={v12.pk: 80, v13.pk: 20}, actor=demo.owner)
    before = _moment()
    group_promote(group=demo.group, model_version=v13, actor=demo.owner, reason="Better AUC")
    return before, _moment()


def test_history_before_a_promotion_shows_1_2_as_champion_with_its_comparison(client, viewer, demo):
    before, _ = _promoted_with_moments(demo)
    client.force_login(viewer)

    then = client.get(f"/api/v1/groups/{demo.group.slug}/history?at={before}").json()

    assert _champion(then) == "Credit Scoring 1.2"
    assert {(m["version"], m["role"], m["weight"]) for m in then["members"]} == {
        ("1.2", "champion", 80),
        ("1.3", "challenger", 20),
    }
    # The comparison as recorded with the traffic change: 1.2 champion, 1.3 tested against it.
    assert then["comparison_change"]["action"] == "set_traffic"
    roles = {m["version"]: m["role"] for m in then["comparison"]["members"]}
    assert roles == {"1.2": "champion", "1.3": "challenger"}
    assert _auc(then["comparison"], "1.3")["value"] is not None


def test_history_after_a_promotion_shows_1_3_as_champion(client, viewer, demo):
    _, after = _promoted_with_moments(demo)
    client.force_login(viewer)

    now = client.get(f"/api/v1/groups/{demo.group.slug}/history?at={after}").json()

    assert _champion(now) == "Credit Scoring 1.3"
    assert {(m["version"], m["role"], m["weight"]) for m in now["members"]} == {
        ("1.3", "champion", 100),
        ("1.2", "challenger", 0),
    }
    assert now["comparison_change"]["action"] == "promote"
    assert now["comparison_change"]["to_version"] == "Credit Scoring 1.3"


def test_the_promotion_keeps_the_comparison_it_was_based_on(demo):
    v13 = demo.versions["1.3"]

    change = group_promote(group=demo.group, model_version=v13, actor=demo.owner)

    evidence = RoleChange.objects.get(pk=change.pk).evidence
    assert evidence["available"] is True
    members = {m["version"]: m for m in evidence["comparison"]["members"]}
    # Recorded before the change applied: 1.3 still the challenger tested against 1.2.
    assert (members["1.2"]["role"], members["1.3"]["role"]) == ("champion", "challenger")
    assert members["1.3"]["metrics"]["auc"]["ci95"] is not None
    assert members["1.3"]["requests"] > 0


def test_a_rollback_keeps_its_own_evidence_and_leaves_the_promotions(demo):
    promotion = group_promote(
        group=demo.group, model_version=demo.versions["1.3"], actor=demo.owner
    )
    kept = RoleChange.objects.get(pk=promotion.pk).evidence

    rollback = group_rollback(group=demo.group, actor=demo.owner)

    assert RoleChange.objects.get(pk=promotion.pk).evidence == kept
    assert rollback.evidence["comparison"]["members"]


def test_an_approval_records_the_evidence_of_its_moment(approver, operator):
    group, versions = group_with_members()
    group.requires_approval = True
    group.save()
    pending = group_promote(group=group, model_version=versions[1], actor=operator)

    change = pending_change_approve(pending=pending, approver=approver)

    assert change.approved_by == approver
    assert change.evidence["available"] is True
    assert change.evidence["comparison"]["group"] == group.slug


def test_a_failing_evidence_provider_never_blocks_a_change(settings, operator):
    settings.HUB_EVIDENCE_PROVIDER = "tests.governance.test_history.broken_provider"
    group, versions = group_with_members()

    change = group_promote(group=group, model_version=versions[1], actor=operator)

    assert change.action == RoleChangeAction.PROMOTE
    assert change.evidence["available"] is False
    assert "boom" in change.evidence["message"]


def broken_provider(group):
    raise RuntimeError("boom")


def test_before_the_group_existed_the_history_says_so(client, read_key):
    group, _ = group_with_members()

    body = client.get(
        f"/api/v1/groups/{group.slug}/history?at=2001-01-01T00:00:00Z", **read_key
    ).json()

    assert body["existed"] is False
    assert body["members"] == []
    assert body["comparison"] is None
    assert body["comparison_note"] == "The group did not exist yet at this time."


def test_without_evidence_before_the_moment_the_history_says_so(client, viewer):
    group, _ = group_with_members()
    client.force_login(viewer)

    body = client.get(f"/api/v1/groups/{group.slug}/history").json()

    assert _champion(body).endswith(group.memberships.get(role="champion").model_version.version)
    assert body["comparison"] is None
    assert body["comparison_note"] == "No evidence was recorded at or before this time."


def test_a_bad_moment_is_a_400_naming_at(client, viewer):
    group, _ = group_with_members()
    client.force_login(viewer)

    response = client.get(f"/api/v1/groups/{group.slug}/history?at=yesterday")

    assert response.status_code == 400
    assert "at" in response.json()["errors"]


def test_a_predict_key_cannot_read_the_history(client, predict_key):
    group, _ = group_with_members()

    assert client.get(f"/api/v1/groups/{group.slug}/history", **predict_key).status_code == 403


def test_the_history_page_lists_every_change_with_its_evidence(client, viewer, demo):
    group_promote(group=demo.group, model_version=demo.versions["1.3"], actor=demo.owner)
    client.force_login(viewer)

    page = client.get(f"/groups/{demo.group.slug}/history/")

    html = page.content.decode()
    assert page.status_code == 200
    assert "Promoted to champion" in html
    assert "Group created" in html
    assert "Evidence recorded" in html
    assert "auc" in html
    assert "As recorded with the change of" in html
