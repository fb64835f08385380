"""The serving hot path's caches: the routing generation, each process's routing tables,
and API-key lookups.

The routing configuration of a group is cached in each process and checked against a
generation kept in Django's cache (Redis in production, shared by every worker). The
generation is derived from the database: every change bumps its group's
`routing_generation` column in its transaction, and the shared generation is a digest of
those columns. Every change writes the new digest to the cache once its transaction
commits (`routing_invalidate`), so a request sees the configuration it read in full, old
or new, never a mix: a table is built from one query and replaced whole.

The cached generation also expires after GENERATION_SECONDS and is then derived from the
database again, so a change made while the cache was unreachable still takes effect
everywhere within those seconds once it is back. When the cache raises (Redis down), the
generation and API keys are read from the database, remembered by each process for
FALLBACK_SECONDS: predictions keep being served.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import F

from groups.models import Membership, ModelGroup
from groups.routing import CHAMPION, RouteMember

logger = logging.getLogger(__name__)

try:  # what a cache that cannot be reached raises
    from redis.exceptions import RedisError

    CACHE_ERRORS: tuple[type[BaseException], ...] = (RedisError, OSError)
except ImportError:  # pragma: no cover - redis is installed wherever REDIS_URL is set
    CACHE_ERRORS = (OSError,)

GENERATION_KEY = "groups:routing:generation"
GENERATION_SECONDS = 10
FALLBACK_SECONDS = 3.0
# With a per-process cache (the embedded default's local memory) another process's bump
# is invisible here, so a table read there is also re-read after this many seconds.
PROCESS_LOCAL_TTL_SECONDS = 2.0


@dataclass(frozen=True)
class RoutingTable:
    group_id: int
    slug: str
    name: str
    table_name: str
    routing_mode: str
    is_active: bool
    features: tuple[str, ...]
    members: tuple[RouteMember, ...]
    team_id: int | None = None  # the owning team: predict's permission check (inference)


# slug -> (generation it was read at, when, table or None for an unknown group)
_tables: dict[str, tuple[int, float, RoutingTable | None]] = {}
# The generation read from the database while the cache is down: (when, generation).
_fallback: dict[str, tuple[float, int]] = {}
# API-key lookups read from the database while the cache is down (groups.auth):
# key hash -> (when, lookup).
api_key_fallback: dict[str, tuple[float, object]] = {}


def _cache_is_process_local() -> bool:
    return settings.CACHES["default"]["BACKEND"].endswith(("LocMemCache", "DummyCache"))


def db_generation() -> int:
    """The routing generation the database holds: a digest of every group's counter (a
    deleted or new group changes it too). One small query over the groups."""
    rows = ModelGroup.objects.order_by("pk").values_list("pk", "routing_generation")
    digest = hashlib.sha256(repr(list(rows)).encode()).digest()
    return int.from_bytes(digest[:7], "big")


def _fallback_generation() -> int:
    now = time.monotonic()
    held = _fallback.get("generation")
    if held is None or now - held[0] >= FALLBACK_SECONDS:
        held = _fallback["generation"] = (now, db_generation())
    return held[1]


def routing_generation() -> int:
    """The current routing generation: the cache's, or the database's when the cache
    misses it (then stored for GENERATION_SECONDS) or cannot be reached."""
    try:
        generation = cache.get(GENERATION_KEY)
        if generation is None:
            generation = db_generation()
            cache.set(GENERATION_KEY, generation, timeout=GENERATION_SECONDS)
        return generation
    except CACHE_ERRORS:
        logger.warning("Routing generation read from the database: the cache is unavailable.")
        return _fallback_generation()


def _publish_generation() -> None:
    _fallback.clear()  # this process sees its own change at once, cache or not
    try:
        cache.set(GENERATION_KEY, db_generation(), timeout=GENERATION_SECONDS)
    except CACHE_ERRORS:
        # The database holds the change; the cache's generation expires and is derived again.
        logger.warning("Routing generation not published: the cache is unavailable.")


def routing_invalidate(group: ModelGroup | None = None) -> None:
    """Call inside the transaction of every change to a group or its members: bumps the
    group's counter now and publishes the new generation once the change commits."""
    if group is not None and group.pk is not None:
        ModelGroup.objects.filter(pk=group.pk).update(
            routing_generation=F("routing_generation") + 1
        )
    transaction.on_commit(_publish_generation)


def routing_cache_clear() -> None:
    """Forget this process's tables and fallbacks (tests)."""
    _tables.clear()
    _fallback.clear()
    api_key_fallback.clear()


def _load(slug: str) -> RoutingTable | None:
    # One query for the group and its members, so the table is one consistent snapshot.
    rows = list(
        Membership.objects.filter(group__slug=slug)
        .select_related("group", "model_version__model")
        .order_by("model_version_id")
    )
    if rows:
        group = rows[0].group
    else:
        group = ModelGroup.objects.filter(slug=slug).first()
        if group is None:
            return None
    members = tuple(
        RouteMember(
            version_id=m.model_version_id,
            role=m.role,
            weight=m.weight,
            model_name=m.model_version.model.name,
            version=m.model_version.version,
        )
        for m in rows
    )
    return RoutingTable(
        group_id=group.pk,
        slug=group.slug,
        name=group.name,
        table_name=group.table_name,
        routing_mode=group.routing_mode,
        is_active=group.is_active,
        features=tuple(group.features),
        members=members,
        team_id=group.team_id,
    )


def _with_override(table: RoutingTable) -> RoutingTable:
    """settings.HUB_ROUTING_OVERRIDES forces a group to one version (for testing)."""
    forced = str(settings.HUB_ROUTING_OVERRIDES.get(table.slug, "")).strip()
    if not forced.isdigit():  # unset, or not a version id: route normally
        return table
    version_id = int(forced)
    current = next((m for m in table.members if m.version_id == version_id), None)
    member = RouteMember(
        version_id=version_id,
        role=current.role if current else CHAMPION,
        weight=100,
        model_name=current.model_name if current else "",
        version=current.version if current else "",
    )
    return replace(table, members=(member,))


def routing_table(slug: str, *, generation: int | None = None) -> RoutingTable | None:
    """The group's routing configuration, or None for an unknown group (cached per process).

    `generation`: the routing generation when the caller already read it in this request
    (the API key lookup reads both in one round trip); otherwise it is read here."""
    if generation is None:
        generation = routing_generation()
    now = time.monotonic()
    held = _tables.get(slug)
    fresh = held is not None and held[0] == generation
    if fresh and _cache_is_process_local():
        fresh = now - held[1] < PROCESS_LOCAL_TTL_SECONDS
    if fresh:
        table = held[2]
    else:
        table = _load(slug)
        _tables[slug] = (generation, now, table)
    return _with_override(table) if table is not None else None


# --- API keys -----------------------------------------------------------------------------


def api_key_cache_key(digest: str) -> str:
    return f"groups:apikey:v2:{digest}"


def api_key_cache_forget(key_hashes: Iterable[str]) -> None:
    """Forget cached key lookups (after a revoke or a scope change, on commit)."""
    keys = [api_key_cache_key(digest) for digest in key_hashes]
    if not keys:
        return
    try:
        cache.delete_many(keys)
    except CACHE_ERRORS:
        # Entries expire on their own (groups.auth.CACHE_SECONDS); nothing else to do.
        logger.warning("API key cache not cleared: the cache is unavailable.")
