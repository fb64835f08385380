"""API keys: shown once, stored hashed, revocable, expiring, scoped to a team's groups."""

import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.test import APIRequestFactory

from core.permissions import KeyGrant
from groups.auth import ApiKeyAuthentication, api_key_allows
from groups.models import ApiKey
from groups.services import GroupValidationError, api_key_create, api_key_revoke, api_key_scope_set
from tests.factories import default_team
from tests.groups.factories import group_with_members, make_api_key

pytestmark = pytest.mark.django_db


def authenticate(header: str | None):
    headers = {} if header is None else {"HTTP_AUTHORIZATION": header}
    request = APIRequestFactory().post("/api/v1/groups/x/predict", **headers)
    return ApiKeyAuthentication().authenticate(request)


def test_a_new_key_is_stored_only_as_its_sha256():
    api_key, plaintext = make_api_key(name="scoring workflow", all_groups=True)
    stored = ApiKey.objects.get(pk=api_key.pk)
    assert stored.key_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert plaintext not in {stored.name, stored.prefix, stored.key_hash}
    assert plaintext.startswith(stored.prefix)


def test_a_valid_key_authenticates_with_its_team_scopes_and_groups():
    group, _ = group_with_members()
    api_key, plaintext = make_api_key(name="scoring", groups=[group], scopes=("predict", "read"))
    user, grant = authenticate(f"Bearer {plaintext}")
    assert user.is_authenticated
    assert isinstance(grant, KeyGrant) and user.grant == grant
    assert (grant.id, grant.team_id, grant.scopes) == (
        api_key.pk,
        group.team_id,
        frozenset({"predict", "read"}),
    )
    assert api_key_allows(grant, group.slug)
    assert not api_key_allows(grant, "another-group")


def test_the_principal_answers_permissions_through_its_scopes_and_team(other_team):
    group, _ = group_with_members()
    _, plaintext = make_api_key(scopes=("predict",), all_groups=True)
    user, _ = authenticate(f"Bearer {plaintext}")
    assert user.has_perm("groups.predict_modelgroup", group)
    assert not user.has_perm("groups.promote_modelgroup", group)
    assert not user.has_perm("groups.view_modelgroup", group)
    group.team = other_team
    assert not user.has_perm("groups.predict_modelgroup", group)  # never beyond its team


def test_no_header_is_left_to_the_view():
    assert authenticate(None) is None


@pytest.mark.parametrize(
    "header", ["", "Basic dXNlcjpwYXNz", "mh_no-scheme", "Bearer", "Bearer a b"]
)
def test_an_authorization_header_that_is_no_bearer_key_is_refused(header):
    # Refused, not ignored: a request with a session and a bad header does not fall back.
    with pytest.raises(AuthenticationFailed, match="Bearer <key>"):
        authenticate(header)


def test_a_wrong_key_is_refused():
    with pytest.raises(AuthenticationFailed, match="Invalid or revoked"):
        authenticate("Bearer mh_not-a-key")


def test_an_expired_key_is_refused_saying_it_expired():
    api_key, plaintext = make_api_key(
        all_groups=True, expires_at=timezone.now() + timedelta(days=1)
    )
    authenticate(f"Bearer {plaintext}")  # valid now, and cached
    ApiKey.objects.filter(pk=api_key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    from django.core.cache import cache

    cache.clear()
    with pytest.raises(AuthenticationFailed, match="expired"):
        authenticate(f"Bearer {plaintext}")


def test_a_cached_key_stops_working_when_it_expires(monkeypatch):
    _, plaintext = make_api_key(all_groups=True, expires_at=timezone.now() + timedelta(hours=1))
    authenticate(f"Bearer {plaintext}")
    later = timezone.now() + timedelta(hours=2)
    monkeypatch.setattr("groups.auth.timezone.now", lambda: later)
    with pytest.raises(AuthenticationFailed, match="expired"):
        authenticate(f"Bearer {plaintext}")


def test_a_revoked_key_is_refused_even_after_it_was_cached(django_capture_on_commit_callbacks):
    api_key, plaintext = make_api_key(name="old", all_groups=True)
    authenticate(f"Bearer {plaintext}")  # now cached
    with django_capture_on_commit_callbacks(execute=True):
        api_key_revoke(api_key=api_key)
    with pytest.raises(AuthenticationFailed):
        authenticate(f"Bearer {plaintext}")
    assert not api_key_allows(ApiKey.objects.get(pk=api_key.pk), "x")


def test_changing_the_scope_takes_effect_at_once(django_capture_on_commit_callbacks):
    group, _ = group_with_members()
    other, _ = group_with_members(name="Other group")
    api_key, plaintext = make_api_key(name="narrow", groups=[other])
    _, grant = authenticate(f"Bearer {plaintext}")
    assert not api_key_allows(grant, group.slug)
    with django_capture_on_commit_callbacks(execute=True):
        api_key_scope_set(api_key=api_key, groups=[group], all_groups=False, scopes=["read"])
    _, grant = authenticate(f"Bearer {plaintext}")
    assert api_key_allows(grant, group.slug)
    assert grant.scopes == frozenset({"read"})


def test_authenticating_records_last_use():
    api_key, plaintext = make_api_key(name="used", all_groups=True)
    authenticate(f"Bearer {plaintext}")
    api_key.refresh_from_db()
    assert api_key.last_used_at is not None


def test_a_key_needs_a_name_a_scope_and_groups():
    with pytest.raises(GroupValidationError) as raised:
        api_key_create(name="  ", team=default_team(), scopes=[])
    assert set(raised.value.errors) == {"name", "scopes", "groups"}


def test_an_unknown_scope_is_named():
    with pytest.raises(GroupValidationError) as raised:
        make_api_key(scopes=("predict", "admin"), all_groups=True)
    assert "'admin'" in raised.value.errors["scopes"][0]


def test_a_key_cannot_name_another_teams_group(other_team):
    group, _ = group_with_members()
    with pytest.raises(GroupValidationError) as raised:
        make_api_key(team=other_team, groups=[group])
    assert "live-credit-scoring" in raised.value.errors["groups"][0]
