"""Who may do what, in one place: roles (Django groups with permissions, core/roles.py),
team ownership (object permissions through django-rules predicates), API-key scopes, and
the querysets a person or key may see.

Every check goes through `user.has_perm(perm, obj)`:
- without an object, Django's ModelBackend answers from the user's roles;
- with an object, the rules registered here answer: the role's permission, and for what an
  Operator does, membership of the object's owning team (Admins act across teams);
- an API key's principal (groups/auth.py) answers through `key_allows` below: its scopes,
  its team, and its groups.

Objects say who owns them with two properties: `owning_team_id` and, for what belongs to
a group, `owning_group_slug`.
"""

from __future__ import annotations

from dataclasses import dataclass

import rules
from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from rest_framework.permissions import BasePermission

from core import roles

_model_backend = ModelBackend()


@dataclass(frozen=True)
class KeyGrant:
    """What an API key may do: `request.auth` on a request made with a key."""

    id: int
    name: str
    prefix: str
    team_id: int | None
    scopes: frozenset[str]
    all_groups: bool
    group_slugs: frozenset[str]


def is_api_key(user: object) -> bool:
    return getattr(user, "grant", None) is not None


def _role_perms(user) -> set[str]:
    if not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        return set()
    return _model_backend.get_all_permissions(user)


# A permission only the Admin role holds: its holders act across teams.
ADMIN_MARKER = "core.change_team"


def is_org_admin(user) -> bool:
    if getattr(user, "is_superuser", False):
        return True
    return ADMIN_MARKER in _role_perms(user)


def user_team_ids(user) -> frozenset[int]:
    """The teams a person belongs to (memoised on the user object for the request)."""
    if is_api_key(user):
        team_id = user.grant.team_id
        return frozenset() if team_id is None else frozenset({team_id})
    if not getattr(user, "is_authenticated", False) or user.pk is None:
        return frozenset()
    cached = getattr(user, "_hub_team_ids", None)
    if cached is None:
        cached = frozenset(user.teams.values_list("id", flat=True))
        user._hub_team_ids = cached
    return cached


def owning_team_id(obj: object) -> int | None:
    return getattr(obj, "owning_team_id", None)


def owning_group_slug(obj: object) -> str | None:
    return getattr(obj, "owning_group_slug", None)


def read_isolated() -> bool:
    return bool(getattr(settings, "HUB_TEAM_READ_ISOLATION", False))


def _in_team(user, obj: object) -> bool:
    team_id = owning_team_id(obj)
    return team_id is not None and team_id in user_team_ids(user)


def _role_predicate(perm: str) -> rules.Predicate:
    def check(user, obj=None) -> bool:
        if getattr(user, "is_superuser", False) and user.is_active:
            return True
        if perm not in _role_perms(user):
            return False
        if obj is None or is_org_admin(user):
            return True
        if perm in roles.READ_PERMS and not read_isolated():
            return True
        return _in_team(user, obj)

    return rules.predicate(check, name=f"role:{perm}")


def rules_register() -> None:
    all_perms = set().union(*roles.ROLE_PERMS.values())
    for perm in sorted(all_perms):
        rules.set_perm(perm, _role_predicate(perm))


def key_allows(grant: KeyGrant, perm: str, obj: object = None) -> bool:
    """An API key: a scope that grants `perm`, and the object within its team and groups."""
    if not any(perm in roles.SCOPE_PERMS.get(scope, ()) for scope in grant.scopes):
        return False
    if obj is None:
        return True
    slug = owning_group_slug(obj)
    if slug is not None and not (grant.all_groups or slug in grant.group_slugs):
        return False
    if perm in roles.READ_PERMS and not read_isolated() and slug is None:
        return True
    team_id = owning_team_id(obj)
    return team_id is not None and team_id == grant.team_id


def can(user, perm: str, obj: object = None) -> bool:
    return bool(user is not None and user.has_perm(perm, obj))


def require(user, perm: str, obj: object = None) -> None:
    """Raise 403 unless the user (or key) may do `perm` (on `obj`)."""
    if not can(user, perm, obj):
        raise PermissionDenied(_denied_message(user, perm, obj))


def _denied_message(user, perm: str, obj: object) -> str:
    action = perm.split(".", 1)[1].replace("_", " ")
    if is_api_key(user):
        return f"This API key may not {action}" + (f" on {obj}." if obj is not None else ".")
    if obj is not None and perm in _role_perms(user):
        return f"You may {action} only on what your teams own; {obj} belongs to another team."
    return f"Your role does not allow you to {action}."


def visible(
    user, queryset: QuerySet, *, team_field: str = "team", group_field: str | None = None
) -> QuerySet:
    """What a person or key may read from `queryset`: everything, unless team read
    isolation is on (then their teams' only) or the key is limited to some groups."""
    if getattr(user, "is_superuser", False):
        return queryset
    if is_api_key(user):
        grant = user.grant
        if group_field and not grant.all_groups:
            queryset = queryset.filter(**{f"{group_field}__in": grant.group_slugs})
        if read_isolated():
            queryset = queryset.filter(**{f"{team_field}_id": grant.team_id})
        return queryset
    if read_isolated() and not is_org_admin(user):
        queryset = queryset.filter(**{f"{team_field}__in": user_team_ids(user)})
    return queryset


def actable(user, queryset: QuerySet, *, team_field: str = "team") -> QuerySet:
    """The part of `queryset` a person or key may operate on (their teams' objects)."""
    if getattr(user, "is_superuser", False) or (not is_api_key(user) and is_org_admin(user)):
        return queryset
    return queryset.filter(**{f"{team_field}__in": user_team_ids(user)})


class HubPermission(BasePermission):
    """DRF permission from the view's `perms` ({"GET": "app.view_x", "POST": ...}).

    Object checks are the view's: it fetches the object and calls `require(...)`. A method
    missing from `perms` is refused (fail closed).
    """

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not getattr(user, "is_authenticated", False):
            return False
        perm = getattr(view, "perms", {}).get(request.method)
        if perm is None and request.method in ("HEAD", "OPTIONS"):
            perm = getattr(view, "perms", {}).get("GET")
        if perm is None:
            return False
        if not user.has_perm(perm):
            self.message = _denied_message(user, perm, None)
            return False
        return True
