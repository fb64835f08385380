"""Which group a request may use, for the inference pages and API views.

An API key limited to some groups gets 403 for every other slug, whether the group exists
or not (a key learns nothing about groups outside its scope), before any 404. The lookup
is groups.selectors.group_for; predict checks the same on its cached routing table, so
the hot path reads no group row.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.http import Http404

from core.permissions import is_api_key
from groups.models import ModelGroup
from groups.selectors import RoutingTable
from groups.selectors import group_for as groups_group_for

VIEW_PERM = "groups.view_modelgroup"


@dataclass(frozen=True)
class GroupRef:
    """A group as the serving hot path knows it (its routing table, no database read),
    with what the permission rules ask of an object."""

    owning_group_slug: str
    owning_team_id: int | None
    name: str

    def __str__(self) -> str:
        return f"the group '{self.name}'"

    @classmethod
    def of(cls, table: RoutingTable) -> GroupRef:
        return cls(owning_group_slug=table.slug, owning_team_id=table.team_id, name=table.name)


def slug_in_scope(user: object, slug: str) -> None:
    """403 when an API key may not use this slug at all (no database read)."""
    if not is_api_key(user):
        return
    grant = user.grant  # type: ignore[attr-defined]
    if not (grant.all_groups or slug in grant.group_slugs):
        raise PermissionDenied(f"This API key may not use the group '{slug}'.")


def group_for(
    user: object, slug: str, perm: str = VIEW_PERM, *, with_table: bool = True
) -> ModelGroup:
    """The group `slug` if `user` may `perm` on it (groups.selectors.group_for: 403 off an
    API key's scope, 404 when it does not exist or is not visible, 403 without `perm`),
    and 404 when it has no inference table."""
    group = groups_group_for(user, slug, perm)
    if with_table and not group.table_name:
        raise Http404("This group has no inference table.")
    return group
