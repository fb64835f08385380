"""Reads of groups that need care: the cached routing table on the serving hot path.

The routing configuration of a group is cached in each process and checked against a
generation counter kept in Django's cache (Redis in production, shared by every worker).
Every change bumps the counter once its transaction commits (`routing_invalidate`), so a
request either sees the configuration it read in full, old or new, never a mix: a table
is built from one query and replaced whole.
"""

import json
import random
import time
from dataclasses import dataclass, replace

from django.conf import settings
from django.core.cache import cache
from django.core.paginator import Page, Paginator
from django.db import transaction
from django.db.models import Case, Prefetch, When

from groups.models import Membership, ModelGroup, RoleChange
from groups.routing import CHALLENGER, CHAMPION, RouteMember, promoted
from registry.models import ModelVersion

GENERATION_KEY = "groups:routing:generation"


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


# slug -> (generation it was read at, when, table or None for an unknown group)
_tables: dict[str, tuple[int, float, RoutingTable | None]] = {}

# With a per-process cache (the embedded default's local memory) another process's bump
# is invisible here, so a table read there is also re-read after this many seconds.
PROCESS_LOCAL_TTL_SECONDS = 2.0


def _cache_is_process_local() -> bool:
    return settings.CACHES["default"]["BACKEND"].endswith(("LocMemCache", "DummyCache"))


def routing_generation() -> int:
    generation = cache.get(GENERATION_KEY)
    if generation is None:
        # A random start, not 0: after a cache flush a counter restarting at a small number
        # could meet a generation some process still holds and serve its stale table.
        cache.add(GENERATION_KEY, random.getrandbits(52), timeout=None)
        generation = cache.get(GENERATION_KEY)
    return generation


def _bump_generation() -> None:
    try:
        cache.incr(GENERATION_KEY)
    except ValueError:  # missing (flushed): any fresh random start invalidates everyone
        cache.set(GENERATION_KEY, random.getrandbits(52), timeout=None)


def routing_invalidate() -> None:
    """Call inside the transaction of every change to a group or its members."""
    transaction.on_commit(_bump_generation)


def routing_cache_clear() -> None:
    """Forget this process's tables (tests)."""
    _tables.clear()


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


def group_list_page(*, page_number: int | str | None, per_page: int = 20) -> Page:
    groups = ModelGroup.objects.prefetch_related(
        Prefetch(
            "memberships",
            queryset=Membership.objects.select_related("model_version__model").order_by(
                Case(When(role=CHAMPION, then=0), When(role=CHALLENGER, then=1), default=2),
                "-weight",
            ),
        )
    )
    return Paginator(groups, per_page).get_page(page_number)


def group_role_changes(*, group: ModelGroup, limit: int = 10) -> list[RoleChange]:
    """The latest changes, each with `split_after`: [(version label, role, weight)]."""
    changes = list(
        group.role_changes.select_related("actor", "from_version__model", "to_version__model")[
            :limit
        ]
    )
    ids = {row["model_version"] for c in changes for row in c.weights_after}
    labels = {
        v.pk: v.version for v in ModelVersion.objects.filter(pk__in=ids).only("pk", "version")
    }
    for change in changes:
        change.split_after = [
            (
                labels.get(row["model_version"], f"#{row['model_version']}"),
                row["role"],
                row["weight"],
            )
            for row in change.weights_after
        ]
    return changes


def group_members(*, group: ModelGroup) -> list[Membership]:
    """Members, champion first, then by weight."""
    order = {"champion": 0, "challenger": 1, "shadow": 2}
    members = list(group.memberships.select_related("model_version__model"))
    return sorted(members, key=lambda m: (order.get(m.role, 3), -m.weight, m.model_version_id))


def group_last_promotion(*, group: ModelGroup) -> RoleChange | None:
    """The promotion a rollback would undo, if any."""
    return (
        group.role_changes.filter(action="promote", rolled_back_by__isnull=True)
        .select_related("from_version__model", "to_version__model")
        .order_by("-created_at", "-id")
        .first()
    )


def group_promotion_preview(*, group: ModelGroup, version_id: int) -> list[dict]:
    """What a promotion would change, member by member (the page's confirmation step)."""
    members = group_members(group=group)
    before = [RouteMember(m.model_version_id, m.role, m.weight) for m in members]
    after = {m.version_id: m for m in promoted(before, version_id)}
    return [
        {
            "membership": m,
            "role_before": m.role,
            "weight_before": m.weight,
            "role_after": after[m.model_version_id].role,
            "weight_after": after[m.model_version_id].weight,
            "changes": (m.role, m.weight)
            != (after[m.model_version_id].role, after[m.model_version_id].weight),
        }
        for m in members
    ]


def _example_value(spec: dict, summary: dict) -> object:
    kind = spec.get("type", "numeric")
    if spec.get("categories"):
        return spec["categories"][0]
    if kind == "boolean":
        return False
    if kind == "text":
        return "example text"
    value = summary.get("quantiles", {}).get("p50", summary.get("mean"))
    if value is None:
        value = spec.get("minimum", 0)
    if kind == "integer":
        return round(value)
    return round(float(value), 4)


def group_example_inputs(*, group: ModelGroup) -> dict[str, object]:
    """Plausible inputs for the curl example: the champion's typical values per feature."""
    champion = group.memberships.filter(role="champion").select_related("model_version").first()
    metadata = champion.model_version.metadata if champion else {}
    specs = {f.get("name"): f for f in metadata.get("features", []) if isinstance(f, dict)}
    summaries = metadata.get("reference", {}).get("features", {})
    return {
        name: _example_value(specs.get(name, {}), summaries.get(name, {}))
        for name in group.features
    }


def group_curl_example(*, group: ModelGroup, endpoint: str) -> str:
    """A ready-to-copy curl call of the group's predict endpoint with every feature filled in."""
    body = {
        "inputs": group_example_inputs(group=group),
        "routing_key": "applicant-123",
        "explain": True,
    }
    return (
        f"curl -X POST {endpoint} \\\n"
        '  -H "Authorization: Bearer <your key>" \\\n'
        '  -H "Content-Type: application/json" \\\n'
        # Single-quoted for the shell: a quote inside the JSON closes, escapes and reopens.
        "  -d '" + json.dumps(body, indent=2).replace("'", "'\\''") + "'"
    )
