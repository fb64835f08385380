"""What every group service shares: the error, member specs, the invariants' checks, row
locks, and the one audit function every change goes through."""

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.utils.module_loading import import_string
from django.utils.text import slugify

from core.errors import ServiceError
from core.permissions import is_api_key
from groups.models import (
    DeletionPolicy,
    Membership,
    ModelGroup,
    Role,
    RoleChange,
    RoutingMode,
)
from groups.routing import RouteMember, split_errors
from groups.routing_cache import routing_invalidate
from registry.models import ModelVersion

Errors = dict[str, list[str]]
logger = logging.getLogger(__name__)


class GroupValidationError(ServiceError):
    """Bad input to a group service: `errors` maps a field to its messages; nothing changed."""


@dataclass(frozen=True)
class MemberSpec:
    model_version: ModelVersion
    role: str
    weight: int


def _merge(errors: Errors, more: Errors) -> Errors:
    for field, messages in more.items():
        errors.setdefault(field, []).extend(messages)
    return errors


def _version_label(version: ModelVersion) -> str:
    return f"{version.model.name} {version.version}"


def _route_members(members: Sequence[MemberSpec]) -> list[RouteMember]:
    return [
        RouteMember(
            version_id=m.model_version.pk,
            role=m.role,
            weight=m.weight,
            model_name=m.model_version.model.name,
            version=m.model_version.version,
        )
        for m in members
    ]


def group_default_features(*, members: Sequence[MemberSpec]) -> list[str]:
    """A new group's features: its champion's declared feature names."""
    champion = next((m for m in members if m.role == Role.CHAMPION), None)
    return list(champion.model_version.feature_names) if champion else []


def group_members_errors(
    *, members: Sequence[MemberSpec], features: Sequence[str], active: bool = True
) -> Errors:
    """Everything wrong with a set of members for a group, by field (empty when valid).

    The admin formset, the pages and the API all show these; the services refuse them.
    """
    errors: Errors = {}
    if active and not members:
        errors["members"] = ["A group needs at least a champion."]
        return errors
    seen: set[int] = set()
    for member in members:
        if member.model_version.pk in seen:
            errors.setdefault("model_version", []).append(
                f"{_version_label(member.model_version)} is listed twice: a version joins a group once."
            )
        seen.add(member.model_version.pk)
        declared = set(member.model_version.feature_names)
        missing = [name for name in features if name not in declared]
        if missing:
            errors.setdefault("model_version", []).append(
                f"{_version_label(member.model_version)} does not accept the group's features: "
                f"missing {', '.join(missing)}."
            )
    return _merge(errors, split_errors(_route_members(members), active=active))


def _snapshot(group: ModelGroup) -> list[dict[str, Any]]:
    return [
        {"model_version": m.model_version_id, "role": m.role, "weight": m.weight}
        for m in group.memberships.order_by("model_version_id")
    ]


@dataclass(frozen=True)
class Who:
    """Who made a change: a person, or an API key (a workflow), or neither (the system)."""

    user: AbstractBaseUser | None = None
    api_key_id: int | None = None


def who(actor: object) -> Who:
    """A request's user (a person or an API key's principal) or None, as the audit needs it."""
    if isinstance(actor, Who):
        return actor
    if is_api_key(actor):
        return Who(api_key_id=actor.grant.id)
    if actor is not None and getattr(actor, "pk", None) is not None:
        return Who(user=actor)
    return Who()


def _audit_record(
    group: ModelGroup,
    *,
    action: str,
    actor: object,
    reason: str,
    before: list[dict[str, Any]] | None = None,
    from_version_id: int | None = None,
    to_version_id: int | None = None,
    approved_by: AbstractBaseUser | None = None,
    evidence: dict[str, Any] | None = None,
) -> RoleChange:
    """Every change of a group ends here: the audit row (weights before and after, who made
    it and who approved it, the evidence it was based on) and the routing generation bumped,
    so neither can be forgotten."""
    author = actor if isinstance(actor, Who) else who(actor)
    change = RoleChange.objects.create(
        group=group,
        action=action,
        actor=author.user,
        api_key_id=author.api_key_id,
        approved_by=approved_by,
        from_version_id=from_version_id,
        to_version_id=to_version_id,
        weights_before=before if before is not None else [],
        weights_after=_snapshot(group),
        reason=reason,
        evidence=evidence or {},
    )
    routing_invalidate(group)
    return change


def group_evidence(group: ModelGroup) -> dict[str, Any]:
    """The comparison as it stands, to keep with a change. The layers that compute it sit
    above groups, so settings.HUB_EVIDENCE_PROVIDER names the function (a dotted path, as
    Django names backends); a failure is recorded, never blocks the change."""
    path = getattr(settings, "HUB_EVIDENCE_PROVIDER", "")
    if not path:
        return {}
    try:
        return import_string(path)(group)
    except Exception as error:  # the change goes on; the record says why evidence is missing
        logger.exception("Evidence for %s could not be computed", group.slug)
        return {"available": False, "message": f"Evidence could not be computed: {error}"}


def _locked(group: ModelGroup) -> tuple[ModelGroup, list[Membership]]:
    """The group and its memberships, locked until the transaction ends.

    Locking the group row first serialises every role change of one group (two promotions
    at once queue instead of interleaving); SQLite has no row locks but serialises writers.
    """
    locked = ModelGroup.objects.select_for_update().get(pk=group.pk)
    memberships = list(
        Membership.objects.select_for_update(of=("self",))
        .filter(group=locked)
        .select_related("model_version__model")
        .order_by("model_version_id")
    )
    return locked, memberships


def _specs(memberships: Iterable[Membership]) -> list[MemberSpec]:
    return [MemberSpec(m.model_version, m.role, m.weight) for m in memberships]


def _check(members: Sequence[MemberSpec], group: ModelGroup) -> None:
    errors = group_members_errors(members=members, features=group.features, active=group.is_active)
    if errors:
        raise GroupValidationError(errors)


def _save_weights(memberships: Iterable[Membership], changes: dict[int, tuple[str, int]]) -> None:
    for membership in memberships:
        role, weight = changes[membership.model_version_id]
        if (membership.role, membership.weight) != (role, weight):
            membership.role, membership.weight = role, weight
            membership.save(update_fields=["role", "weight"])


def group_slug(name: str) -> str:
    """The slug a name gives: `Live Credit Scoring` -> live-credit-scoring.

    Underscores become dashes and runs of dashes collapse, so two slugs never differ only
    where the table name (dashes -> underscores) would not: one slug, one table.
    """
    return re.sub(r"-{2,}", "-", slugify(name).replace("_", "-")).strip("-")


def group_fields_errors(
    *, name: str, routing_mode: str, deletion_policy: str, exclude_pk: int | None = None
) -> Errors:
    """What is wrong with a group's own fields (not its members), by field."""
    errors: Errors = {}
    if not name:
        errors["name"] = ["A group needs a name."]
    elif not group_slug(name):
        errors["name"] = ["A name needs at least one letter or digit (it makes the endpoint URL)."]
    elif ModelGroup.objects.filter(name__iexact=name).exclude(pk=exclude_pk).exists():
        errors["name"] = [f"A group named {name!r} already exists."]
    elif exclude_pk is None and ModelGroup.objects.filter(slug=group_slug(name)).exists():
        # A new group's slug comes from its name; an existing group keeps its slug.
        errors["name"] = [
            f"The address /groups/{group_slug(name)}/ is taken by another group: choose another name."
        ]
    if routing_mode not in RoutingMode.values:
        errors["routing_mode"] = [f"Use one of {', '.join(RoutingMode.values)}."]
    if deletion_policy not in DeletionPolicy.values:
        errors["deletion_policy"] = [f"Use one of {', '.join(DeletionPolicy.values)}."]
    return errors


def _champion_id(snapshot: list[dict[str, Any]]) -> int | None:
    return next((row["model_version"] for row in snapshot if row["role"] == Role.CHAMPION), None)


def traffic_split(snapshot: list[dict[str, Any]]) -> dict[int, tuple[str, int]]:
    """The part of a snapshot that decides who answers: champion and members with traffic."""
    return {
        row["model_version"]: (row["role"], row["weight"])
        for row in snapshot
        if row["weight"] > 0 or row["role"] == Role.CHAMPION
    }
