"""API-key authentication: `Authorization: Bearer <key>` (keys are made by groups.services).

The lookup is cached in Django's cache so the hot path does not query the database for
it; every change to a key (revoke, scope) forgets its cache entry on commit. The same
cache read (one `get_many`) also fetches the routing generation, which the predict
endpoint needs next: one round trip to the cache per request instead of two.

When the cache cannot be reached, keys are read from the database and remembered by
this process for a few seconds (groups/routing_cache.py): predict keeps serving.
"""

import contextlib
import time
from datetime import datetime

from django.core.cache import cache
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from core.permissions import KeyGrant, key_allows
from groups.models import ApiKey
from groups.routing_cache import (
    CACHE_ERRORS,
    FALLBACK_SECONDS,
    GENERATION_KEY,
    api_key_cache_key,
    api_key_fallback,
)

CACHE_SECONDS = 300
LAST_USED_EVERY_SECONDS = 60
MISS_SECONDS = 30
_MISSING = "missing"

# What a lookup caches: the grant and when the key expires (None: never), or _MISSING.
Lookup = tuple[KeyGrant, datetime | None]

# Kept for callers that still import the old name.
ApiKeyGrant = KeyGrant


class ApiKeyPrincipal:
    """`request.user` for a request made with an API key: authenticated, not a person.

    Its permissions are its grant's (`core.permissions.key_allows`): its scopes, on its
    team's groups (all, or the listed ones)."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None
    id = None

    def __init__(self, grant: KeyGrant) -> None:
        self.grant = grant
        self.username = f"api-key:{grant.prefix}"

    def __str__(self) -> str:
        return f"API key {self.grant.name}"

    def get_username(self) -> str:
        return self.username

    def has_perm(self, perm: str, obj: object = None) -> bool:
        return key_allows(self.grant, perm, obj)

    def has_perms(self, perms, obj: object = None) -> bool:
        return all(self.has_perm(perm, obj) for perm in perms)


def key_hash(plaintext: str) -> str:
    return ApiKey.hash(plaintext)


def _grant(api_key: ApiKey) -> KeyGrant:
    return KeyGrant(
        id=api_key.pk,
        name=api_key.name,
        prefix=api_key.prefix,
        team_id=api_key.team_id,
        scopes=frozenset(api_key.scopes),
        all_groups=api_key.all_groups,
        group_slugs=frozenset(g.slug for g in api_key.groups.all()),
    )


def _lookup_load(digest: str) -> Lookup | str:
    api_key = (
        ApiKey.objects.filter(key_hash=digest, revoked_at__isnull=True)
        .prefetch_related("groups")
        .first()
    )
    if api_key is None:
        return _MISSING
    return _grant(api_key), api_key.expires_at


def _lookup_from_database(digest: str) -> Lookup | str:
    now = time.monotonic()
    held = api_key_fallback.get(digest)
    if held is None or now - held[0] >= FALLBACK_SECONDS:
        held = api_key_fallback[digest] = (now, _lookup_load(digest))
    return held[1]


def _lookup(digest: str) -> tuple[Lookup | str, int | None]:
    """(the key's lookup or _MISSING, the routing generation if the cache holds one)."""
    cache_key = api_key_cache_key(digest)
    try:
        found = cache.get_many([cache_key, GENERATION_KEY])
    except CACHE_ERRORS:
        return _lookup_from_database(digest), None
    cached, generation = found.get(cache_key), found.get(GENERATION_KEY)
    if cached is not None:
        return cached, generation
    lookup = _lookup_load(digest)
    # Misses are remembered briefly too, so a client retrying a bad key costs no queries.
    with contextlib.suppress(*CACHE_ERRORS):
        cache.set(cache_key, lookup, MISS_SECONDS if lookup == _MISSING else CACHE_SECONDS)
    return lookup, generation


_touched_at: dict[str, float] = {}  # key hash -> monotonic time this process last touched it


def _touch(grant: KeyGrant, digest: str) -> None:
    # last_used_at at most once a minute per key: a write per request would cost the hot
    # path. The process remembers its own last touch, so a typical request makes no cache
    # call here at all; the shared cache then dedupes across processes.
    now = time.monotonic()
    if now - _touched_at.get(digest, -LAST_USED_EVERY_SECONDS) < LAST_USED_EVERY_SECONDS:
        return
    _touched_at[digest] = now
    try:
        first = cache.add(f"groups:apikey-used:{grant.id}", 1, LAST_USED_EVERY_SECONDS)
    except CACHE_ERRORS:
        first = True
    if first:
        ApiKey.objects.filter(pk=grant.id).update(last_used_at=timezone.now())


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """DRF authentication by `Authorization: Bearer <key>`.

    No header: not this authenticator's business (None, so DRF answers 401 when the view
    needs authentication, or the session authenticates). Any other scheme than Bearer, a
    wrong, revoked or expired key: 401 saying which (credentials that fail never fall back
    to the session; the schema documents Bearer keys and sessions only). `request.auth`
    is the key's `core.permissions.KeyGrant`; `request.user` an ApiKeyPrincipal whose
    `has_perm` answers for the key. `request.routing_generation` is the routing generation
    read with the key (or None).
    """

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[ApiKeyPrincipal, KeyGrant] | None:
        header = request.META.get("HTTP_AUTHORIZATION")
        if header is None:
            return None  # an empty header is a bad credential, refused below
        # Read from META as the WSGI server set it (latin-1 text): DRF's helper builds the
        # request's whole header map first, per request.
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != self.keyword.lower() or not token or " " in token:
            raise exceptions.AuthenticationFailed("Send the key as 'Authorization: Bearer <key>'.")
        digest = key_hash(token)
        lookup, request.routing_generation = _lookup(digest)
        if lookup == _MISSING:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        grant, expires_at = lookup
        if expires_at is not None and expires_at <= timezone.now():
            raise exceptions.AuthenticationFailed(
                f"This API key expired on {expires_at:%Y-%m-%d %H:%M} UTC: ask for a new one."
            )
        _touch(grant, digest)
        return ApiKeyPrincipal(grant), grant

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


def api_key_allows(api_key: KeyGrant | ApiKey, slug: str) -> bool:
    """Whether a key (the grant on request.auth, or the model) may call this group slug.

    Prefer `groups.selectors.group_for`, which also checks the group's team and the scope."""
    if isinstance(api_key, ApiKey):
        if not api_key.is_active:
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
