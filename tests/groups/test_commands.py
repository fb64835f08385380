"""Management commands: promote, set_traffic, create_api_key."""

import hashlib
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from groups.models import ApiKey, RoleChangeAction
from tests.groups.factories import group_with_members

pytestmark = pytest.mark.django_db


def test_promote_command_promotes_and_records_the_reason(staff_user):
    group, (champion, challenger) = group_with_members(weights=(90, 10))
    out = StringIO()
    call_command(
        "promote",
        group=group.slug,
        version_id=challenger.pk,
        reason="nightly eval",
        actor=staff_user.username,
        stdout=out,
    )
    assert "now the champion" in out.getvalue()
    change = group.role_changes.get(action=RoleChangeAction.PROMOTE)
    assert (change.reason, change.actor) == ("nightly eval", staff_user)
    assert group.memberships.get(model_version=challenger).weight == 100


def test_promote_command_refuses_an_unknown_group():
    with pytest.raises(CommandError, match="no group with slug"):
        call_command("promote", group="nope", version_id=1)


def test_set_traffic_command_sets_weights():
    group, (champion, challenger) = group_with_members(weights=(90, 10))
    call_command(
        "set_traffic",
        group=group.slug,
        weights=f"{champion.pk}=80,{challenger.pk}=20",
        stdout=StringIO(),
    )
    assert group.memberships.get(model_version=challenger).weight == 20


def test_set_traffic_command_reports_the_invariant():
    group, (champion, challenger) = group_with_members(weights=(90, 10))
    with pytest.raises(CommandError, match="sum to 100"):
        call_command("set_traffic", group=group.slug, weights=f"{challenger.pk}=50")


def test_create_api_key_prints_the_key_once_scoped_to_groups(team):
    group, _ = group_with_members()
    out, err = StringIO(), StringIO()
    call_command(
        "create_api_key",
        name="workflow",
        team=team.slug,
        scopes="predict,read",
        groups=group.slug,
        expires="90d",
        stdout=out,
        stderr=err,
    )
    plaintext = out.getvalue().strip()
    api_key = ApiKey.objects.get()
    assert api_key.key_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert list(api_key.groups.all()) == [group]
    assert (api_key.team, api_key.scopes, api_key.all_groups) == (team, ["predict", "read"], False)
    days = (api_key.expires_at - timezone.now()).total_seconds() / 86400
    assert 89.9 < days <= 90
    assert "will not be shown again" in err.getvalue()


def test_create_api_key_with_all_groups(team):
    call_command(
        "create_api_key",
        name="ops",
        team=team.slug,
        scopes="manage",
        all_groups=True,
        stdout=StringIO(),
        stderr=StringIO(),
    )
    api_key = ApiKey.objects.get()
    assert api_key.all_groups and api_key.expires_at is None


def test_create_api_key_without_groups_is_an_error_not_all(team):
    with pytest.raises(CommandError, match="--all-groups"):
        call_command("create_api_key", name="ops", team=team.slug, scopes="predict")
    assert not ApiKey.objects.exists()


def test_create_api_key_refuses_unknown_groups(team):
    with pytest.raises(CommandError, match="no group with slug nope"):
        call_command("create_api_key", name="x", team=team.slug, scopes="predict", groups="nope")


def test_create_api_key_names_an_unknown_scope(team):
    with pytest.raises(CommandError, match="unknown scope admin"):
        call_command(
            "create_api_key", name="x", team=team.slug, scopes="read,admin", all_groups=True
        )


def test_create_api_key_refuses_groups_of_another_team(other_team):
    group, _ = group_with_members()
    with pytest.raises(CommandError, match="not a group of team other-team"):
        call_command(
            "create_api_key", name="x", team=other_team.slug, scopes="predict", groups=group.slug
        )


def test_create_api_key_refuses_a_bad_expiry(team):
    with pytest.raises(CommandError, match="not a duration"):
        call_command(
            "create_api_key",
            name="x",
            team=team.slug,
            scopes="predict",
            all_groups=True,
            expires="soon",
        )
