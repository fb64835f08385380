"""Routing: the group's routing table (permission checked for an API key's caller), its
champion, and each instance's member (weighted, or by its routing key's stable hash)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from django.conf import settings

from core.permissions import require
from core.roles import PREDICT_PERM
from groups.routing import CHAMPION, NoRoute, RouteMember, choose
from groups.selectors import RoutingTable, routing_table
from inference.access import GroupRef, slug_in_scope
from inference.serving.errors import GroupNotFound, NoChampion
from inference.serving.jobs import Pending, PredictRequest


def serving_table(slug: str, routing_generation: int | None, user: object | None) -> RoutingTable:
    if user is not None:
        slug_in_scope(user, slug)  # 403 off a key's scope, before the 404
    table = routing_table(slug, generation=routing_generation)
    if table is None:
        raise GroupNotFound(f"No group '{slug}'.", {"group": [f"No group '{slug}'."]})
    if user is not None:
        require(user, PREDICT_PERM, GroupRef.of(table))
    return table


def champion_of(table: RoutingTable) -> RouteMember:
    if not table.is_active:
        raise NoChampion(
            f"The group '{table.slug}' is not active.",
            {
                "group": [
                    f"The group '{table.slug}' is not active: activate it to serve predictions."
                ]
            },
        )
    champion = next((m for m in table.members if m.role == CHAMPION), None)
    if champion is None and settings.HUB_ROUTING_OVERRIDES.get(table.slug) and table.members:
        # An override forces one version (the routing table holds only it): it answers alone,
        # whatever its role in the group.
        return table.members[0]
    if champion is None:
        raise NoChampion(
            f"The group '{table.slug}' has no champion.",
            {"group": [f"The group '{table.slug}' has no champion: promote a member first."]},
        )
    return champion


def route(table: RoutingTable, routing_key: str) -> RouteMember:
    try:
        return choose(table.members, routing_key=routing_key or None)
    except NoRoute as exc:
        raise NoChampion(str(exc), {"group": [str(exc)]}) from exc


def pending_items(
    table: RoutingTable, instances: Sequence[PredictRequest], logged: dict[uuid.UUID, dict]
) -> list[Pending]:
    """The instances not logged before, each routed."""
    return [
        Pending(
            index=index,
            request=request,
            request_id=request.request_id or uuid.uuid4(),
            member=route(table, request.routing_key),
        )
        for index, request in enumerate(instances)
        if request.request_id is None or request.request_id not in logged
    ]
