"""Management commands: promote, set_traffic, create_api_key."""

import hashlib
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

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


def test_create_api_key_prints_the_key_once_scoped_to_groups():
    group, _ = group_with_members()
    out, err = StringIO(), StringIO()
    call_command("create_api_key", name="workflow", groups=group.slug, stdout=out, stderr=err)
    plaintext = out.getvalue().strip()
    api_key = ApiKey.objects.get()
    assert api_key.key_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert list(api_key.groups.all()) == [group]
    assert not api_key.all_groups
    assert "will not be shown again" in err.getvalue()


def test_create_api_key_without_groups_allows_all():
    call_command("create_api_key", name="ops", stdout=StringIO(), stderr=StringIO())
    assert ApiKey.objects.get().all_groups


def test_create_api_key_refuses_unknown_groups():
    with pytest.raises(CommandError, match="no group with slug nope"):
        call_command("create_api_key", name="x", groups="nope")
