"""API keys: shown once, stored hashed, revocable, scoped to groups or all."""

import hashlib

import pytest
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.test import APIRequestFactory

from groups.auth import (
    ApiKeyAuthentication,
    api_key_allows,
    api_key_create,
    api_key_revoke,
    api_key_scope_set,
)
from groups.models import ApiKey
from groups.services import GroupValidationError
from tests.groups.factories import group_with_members

pytestmark = pytest.mark.django_db


def authenticate(header: str | None):
    request = APIRequestFactory().post("/api/v1/groups/x/predict", HTTP_AUTHORIZATION=header or "")
    return ApiKeyAuthentication().authenticate(request)


def test_a_new_key_is_stored_only_as_its_sha256():
    api_key, plaintext = api_key_create(name="scoring workflow", all_groups=True)
    stored = ApiKey.objects.get(pk=api_key.pk)
    assert stored.key_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert plaintext not in {stored.name, stored.prefix, stored.key_hash}
    assert plaintext.startswith(stored.prefix)


def test_a_valid_key_authenticates_with_its_scope():
    group, _ = group_with_members()
    api_key, plaintext = api_key_create(name="scoring", groups=[group])
    user, grant = authenticate(f"Bearer {plaintext}")
    assert user.is_authenticated
    assert grant.id == api_key.pk
    assert api_key_allows(grant, group.slug)
    assert not api_key_allows(grant, "another-group")


def test_an_all_groups_key_allows_any_group():
    _, plaintext = api_key_create(name="ops", all_groups=True)
    _, grant = authenticate(f"Bearer {plaintext}")
    assert api_key_allows(grant, "whatever")


def test_no_header_is_left_to_the_view():
    assert authenticate(None) is None


def test_a_wrong_key_is_refused():
    with pytest.raises(AuthenticationFailed):
        authenticate("Bearer mh_not-a-key")


def test_a_revoked_key_is_refused_even_after_it_was_cached(django_capture_on_commit_callbacks):
    api_key, plaintext = api_key_create(name="old", all_groups=True)
    authenticate(f"Bearer {plaintext}")  # now cached
    with django_capture_on_commit_callbacks(execute=True):
        api_key_revoke(api_key=api_key)
    with pytest.raises(AuthenticationFailed):
        authenticate(f"Bearer {plaintext}")
    assert not api_key_allows(ApiKey.objects.get(pk=api_key.pk), "x")


def test_changing_the_scope_takes_effect_at_once(django_capture_on_commit_callbacks):
    group, _ = group_with_members()
    api_key, plaintext = api_key_create(name="narrow")
    _, grant = authenticate(f"Bearer {plaintext}")
    assert not api_key_allows(grant, group.slug)
    with django_capture_on_commit_callbacks(execute=True):
        api_key_scope_set(api_key=api_key, groups=[group], all_groups=False)
    _, grant = authenticate(f"Bearer {plaintext}")
    assert api_key_allows(grant, group.slug)


def test_authenticating_records_last_use():
    api_key, plaintext = api_key_create(name="used", all_groups=True)
    authenticate(f"Bearer {plaintext}")
    api_key.refresh_from_db()
    assert api_key.last_used_at is not None


def test_a_key_needs_a_name():
    with pytest.raises(GroupValidationError) as raised:
        api_key_create(name="  ")
    assert "name" in raised.value.errors
