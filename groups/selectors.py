"""Reads of groups that need care: the group an API view acts on (`group_for`), lists,
the page's pieces, and the curl example.

The routing cache lives in groups/routing_cache.py; its names are imported here too so
callers of `groups.selectors.routing_table` keep working.
"""

import json

from django.core.exceptions import PermissionDenied
from django.core.paginator import Page, Paginator
from django.db.models import Case, Prefetch, QuerySet, Value, When
from django.http import Http404

from core.errors import ServiceError
from core.models import Team
from core.permissions import actable, is_api_key, require, visible
from groups.models import Membership, ModelGroup, PendingChange, PendingStatus, RoleChange
from groups.routing import ROLE_RANK, ROLES, RouteMember, by_role, promoted
from groups.routing_cache import (  # noqa: F401 - re-exported for the inference app
    GENERATION_KEY,
    PROCESS_LOCAL_TTL_SECONDS,
    RoutingTable,
    routing_cache_clear,
    routing_generation,
    routing_invalidate,
    routing_table,
)
from registry.models import ModelVersion


def group_for(user, slug: str, perm: str) -> ModelGroup:
    """The group `slug` for a request, or an error, in this order:

    1. an API key not allowed on this slug: 403, whether or not such a group exists (a key
       scoped to group A learns nothing about other slugs);
    2. no such group (or one the user may not read): 404;
    3. `perm` on the group refused (role, team, key scope): 403.

    Every group API view (and predict, feedback, comparison, inferences) fetches through it.
    """
    if is_api_key(user):
        grant = user.grant
        if not (grant.all_groups or slug in grant.group_slugs):
            raise PermissionDenied(f"This API key may not use the group '{slug}'.")
    group = (
        visible(user, ModelGroup.objects.select_related("team"), group_field="slug")
        .filter(slug=slug)
        .first()
    )
    if group is None:
        raise Http404(f"No group '{slug}'.")
    require(user, perm, group)
    return group


def team_for_new_group(user, slug: str | None) -> Team:
    """The team a new group belongs to: a key's own team; for a person, the team named by
    `slug` among theirs, or their only team (a 400 naming `team` otherwise)."""
    if is_api_key(user):
        team = Team.objects.filter(pk=user.grant.team_id).first()
        if team is None or (slug and slug != team.slug):
            raise ServiceError({"team": ["An API key creates groups in its own team only."]})
        return team
    teams = actable(user, Team.objects.order_by("slug"), team_field="pk")
    if slug:
        team = teams.filter(slug=slug).first()
        if team is None:
            raise ServiceError({"team": [f"{slug!r} is not one of your teams."]})
        return team
    mine = list(teams[:2])
    if len(mine) == 1:
        return mine[0]
    if not mine:
        raise ServiceError({"team": ["You belong to no team: ask an Admin to add you to one."]})
    raise ServiceError({"team": ["You belong to several teams: name the one that owns the group."]})


def role_order() -> Case:
    """`by_role`'s order as a database expression, for querysets (admin inline, lists)."""
    return Case(
        *(When(role=role, then=Value(rank)) for role, rank in ROLE_RANK.items()),
        default=Value(len(ROLES)),
    )


def members_by_role() -> QuerySet[Membership]:
    return Membership.objects.select_related("model_version__model").order_by(
        role_order(), "-weight", "model_version_id"
    )


def groups_with_members(user) -> QuerySet[ModelGroup]:
    """The groups `user` may read, members prefetched in `by_role` order."""
    groups = ModelGroup.objects.select_related("team").prefetch_related(
        Prefetch("memberships", queryset=members_by_role())
    )
    return visible(user, groups, group_field="slug")


def group_list_page(
    *, groups: QuerySet[ModelGroup], page_number: int | str | None, per_page: int = 20
) -> Page:
    return Paginator(groups, per_page).get_page(page_number)


def group_role_changes(*, group: ModelGroup, limit: int = 10) -> list[RoleChange]:
    """The latest changes, each with `split_after`: [(version label, role, weight)]."""
    changes = list(
        group.role_changes.select_related(
            "actor", "approved_by", "api_key", "from_version__model", "to_version__model"
        )[:limit]
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
    """Members, champion first, then by weight (`by_role`)."""
    return by_role(group.memberships.select_related("model_version__model"))


def group_last_promotion(*, group: ModelGroup) -> RoleChange | None:
    """The promotion a rollback would undo, if any."""
    return (
        group.role_changes.filter(action="promote", rolled_back_by__isnull=True)
        .select_related("from_version__model", "to_version__model")
        .order_by("-created_at", "-id")
        .first()
    )


def group_pending_changes(*, group: ModelGroup) -> list[PendingChange]:
    """Changes waiting for a second person, oldest first (the group page's section)."""
    return list(
        group.pending_changes.filter(status=PendingStatus.PENDING)
        .select_related("author", "author_key", "group")
        .order_by("created_at", "id")
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
    # Only the metadata: the version's row also holds its imported document, often large.
    metadata = (
        group.memberships.filter(role="champion")
        .values_list("model_version__metadata", flat=True)
        .first()
    ) or {}
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
