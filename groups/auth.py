"""API keys for workflows: `Authorization: Bearer <key>` on the group endpoints.

A key is shown once, when it is made; only its sha256 is stored (a key is 256 random
bits, so a fast hash is enough: there is nothing to brute-force). The lookup is cached in
Django's cache so the hot path does not query the database for it; every change to a
key (revoke, scope) forgets its cache entry on commit.

The same cache read also fetches the routing generation (groups.selectors), which the
predict endpoint needs next: one round trip to the cache per request instead of two.
"""

import hashlib
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from groups.models import ApiKey, ModelGroup
from groups.selectors import GENERATION_KEY
from groups.services import GroupValidationError

KEY_PREFIX = "mh_"
PREFIX_LENGTH = 11  # "mh_" and 8 characters: enough to tell keys apart, useless to guess
CACHE_SECONDS = 300
LAST_USED_EVERY_SECONDS = 60
_MISSING = "missing"


@dataclass(frozen=True)
class ApiKeyGrant:
    """What a request authenticated by an API key may do (`request.auth`)."""

    id: int
    name: str
    prefix: str
    all_groups: bool
    group_slugs: frozenset[str]


class ApiKeyPrincipal:
    """`request.user` for a request made with an API key: authenticated, not a person."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None
    id = None

    def __init__(self, grant: ApiKeyGrant) -> None:
        self.grant = grant
        self.username = f"api-key:{grant.prefix}"

    def __str__(self) -> str:
        return f"API key {self.grant.name}"

    def get_username(self) -> str:
        return self.username

    def has_perm(self, perm: str, obj: object = None) -> bool:
        return False


def key_hash(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def _cache_key(digest: str) -> str:
    return f"groups:apikey:{digest}"


def api_key_cache_forget(key_hashes: Iterable[str]) -> None:
    cache.delete_many([_cache_key(digest) for digest in key_hashes])


@transaction.atomic
def api_key_create(
    *,
    name: str,
    groups: Iterable[ModelGroup] = (),
    all_groups: bool = False,
    created_by: AbstractBaseUser | None = None,
) -> tuple[ApiKey, str]:
    """Make a key; the plaintext is returned here once and never stored or shown again."""
    name = (name or "").strip()
    if not name:
        raise GroupValidationError({"name": ["A key needs a name (who or what uses it)."]})
    plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey.objects.create(
        name=name,
        prefix=plaintext[:PREFIX_LENGTH],
        key_hash=key_hash(plaintext),
        all_groups=all_groups,
        created_by=created_by,
    )
    api_key.groups.set(list(groups))
    return api_key, plaintext


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
    digest = api_key.key_hash
    transaction.on_commit(lambda: api_key_cache_forget([digest]))
    return api_key


@transaction.atomic
def api_key_scope_set(
    *, api_key: ApiKey, groups: Iterable[ModelGroup], all_groups: bool, name: str | None = None
) -> ApiKey:
    """Change which groups a key may call (and its name); takes effect on commit."""
    if name is not None and name.strip():
        api_key.name = name.strip()
    api_key.all_groups = all_groups
    api_key.save(update_fields=["name", "all_groups"])
    api_key.groups.set(list(groups))
    digest = api_key.key_hash
    transaction.on_commit(lambda: api_key_cache_forget([digest]))
    return api_key


def _grant_for(digest: str) -> tuple[ApiKeyGrant | None, int | None]:
    """(the key's grant or None, the routing generation if the cache holds one)."""
    found = cache.get_many([_cache_key(digest), GENERATION_KEY])
    cached, generation = found.get(_cache_key(digest)), found.get(GENERATION_KEY)
    if cached == _MISSING:
        return None, generation
    if cached is not None:
        return cached, generation
    return _grant_load(digest), generation


def _grant_load(digest: str) -> ApiKeyGrant | None:
    api_key = (
        ApiKey.objects.filter(key_hash=digest, revoked_at__isnull=True)
        .prefetch_related("groups")
        .first()
    )
    if api_key is None:
        # Remember misses briefly too, so a client retrying a bad key costs no queries.
        cache.set(_cache_key(digest), _MISSING, 30)
        return None
    grant = ApiKeyGrant(
        id=api_key.pk,
        name=api_key.name,
        prefix=api_key.prefix,
        all_groups=api_key.all_groups,
        group_slugs=frozenset(g.slug for g in api_key.groups.all()),
    )
    cache.set(_cache_key(digest), grant, CACHE_SECONDS)
    return grant


_touched_at: dict[str, float] = {}  # key hash -> monotonic time this process last touched it


def _touch(grant: ApiKeyGrant, digest: str) -> None:
    # last_used_at at most once a minute per key: a write per request would cost the hot
    # path. The process remembers its own last touch, so a typical request makes no cache
    # call here at all; the shared cache then dedupes across processes.
    now = time.monotonic()
    if now - _touched_at.get(digest, -LAST_USED_EVERY_SECONDS) < LAST_USED_EVERY_SECONDS:
        return
    _touched_at[digest] = now
    if cache.add(f"groups:apikey-used:{grant.id}", 1, LAST_USED_EVERY_SECONDS):
        ApiKey.objects.filter(pk=grant.id).update(last_used_at=timezone.now())


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """DRF authentication by `Authorization: Bearer <key>`.

    No header: not this authenticator's business (None, so DRF answers 401 when the view
    needs authentication). A wrong or revoked key: 401. `request.auth` is an ApiKeyGrant;
    check the group with `api_key_allows(request.auth, slug)` (403 when it says no).
    `request.routing_generation` is the routing generation read with the key (or None).
    """

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[ApiKeyPrincipal, ApiKeyGrant] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != self.keyword.lower():
            return None
        token = token.strip()
        if not token or " " in token:
            raise exceptions.AuthenticationFailed("Send the key as 'Authorization: Bearer <key>'.")
        digest = key_hash(token)
        grant, request.routing_generation = _grant_for(digest)
        if grant is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        _touch(grant, digest)
        return ApiKeyPrincipal(grant), grant

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


def api_key_allows(api_key: ApiKeyGrant | ApiKey, slug: str) -> bool:
    """Whether a key (the grant on request.auth, or the model) may call this group."""
    if isinstance(api_key, ApiKey):
        if api_key.revoked_at is not None:
            return False
        return api_key.all_groups or api_key.groups.filter(slug=slug).exists()
    return api_key.all_groups or slug in api_key.group_slugs


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """Describes the API key in the OpenAPI schema (/api/docs/)."""

    target_class = "groups.auth.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema) -> dict:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key made in the admin or with `manage.py create_api_key`.",
        }
