"""Every write to groups, memberships and their roles; the one place the invariants live.

An active group has exactly one champion; champion and challenger weights sum to 100;
shadows take no traffic; every member accepts the group's features. Each function checks
them before it writes (raising GroupValidationError with field-named messages, nothing
changed), holds row locks on the group while it changes roles, records the change in
the audit trail and bumps the routing cache generation on commit.
"""

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils.text import slugify

from groups.models import (
    DeletionPolicy,
    Membership,
    ModelGroup,
    Role,
    RoleChange,
    RoleChangeAction,
    RoutingMode,
)
from groups.routing import RouteMember, promoted, split_errors
from groups.selectors import routing_invalidate
from registry.models import ModelVersion, Task

Errors = dict[str, list[str]]


class GroupValidationError(Exception):
    """Bad input to a group service: `errors` maps a field to its messages; nothing changed."""

    def __init__(self, errors: Errors) -> None:
        self.errors = errors
        super().__init__(" ".join(message for messages in errors.values() for message in messages))


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


def _audit_record(
    group: ModelGroup,
    *,
    action: str,
    actor: Any,
    reason: str,
    before: list[dict[str, Any]] | None = None,
    from_version_id: int | None = None,
    to_version_id: int | None = None,
) -> RoleChange:
    """Every change of roles or weights ends here: the audit row (weights before and
    after) and the routing cache invalidated on commit, so neither can be forgotten."""
    change = RoleChange.objects.create(
        group=group,
        action=action,
        actor=actor,
        from_version_id=from_version_id,
        to_version_id=to_version_id,
        weights_before=before if before is not None else [],
        weights_after=_snapshot(group),
        reason=reason,
    )
    routing_invalidate()
    return change


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


@transaction.atomic
def group_create(
    *,
    name: str,
    description: str = "",
    task: str | None = None,
    routing_mode: str = RoutingMode.WEIGHTED,
    deletion_policy: str = DeletionPolicy.ARCHIVE,
    members: Sequence[MemberSpec],
    features: Sequence[str] | None = None,
    created_by: AbstractBaseUser | None = None,
) -> ModelGroup:
    """Create a group with its members; its inference table is made in this transaction.

    The slug comes from the name and never changes. `features` default to the champion's
    declared features; `task` to the champion's model's task.
    """
    name = (name or "").strip()
    errors = group_fields_errors(
        name=name, routing_mode=routing_mode, deletion_policy=deletion_policy
    )
    slug = group_slug(name)
    features = list(features) if features is not None else group_default_features(members=members)
    champion = next((m for m in members if m.role == Role.CHAMPION), None)
    task = task or (champion.model_version.model.task if champion else Task.BINARY)
    if task not in Task.values:
        errors["task"] = [f"Use one of {', '.join(Task.values)}."]
    _merge(errors, group_members_errors(members=members, features=features))
    if errors:
        raise GroupValidationError(errors)
    try:
        with transaction.atomic():
            # post_save runs inference/signals.py here: the table is created in this
            # transaction, and a failing DDL undoes the group with it.
            group = ModelGroup.objects.create(
                name=name,
                slug=slug,
                description=description,
                task=task,
                routing_mode=routing_mode,
                deletion_policy=deletion_policy,
                features=features,
                created_by=created_by,
            )
    except IntegrityError as exc:  # a concurrent create took the name first
        raise GroupValidationError({"name": [f"A group named {name!r} already exists."]}) from exc
    Membership.objects.bulk_create(
        Membership(group=group, model_version=m.model_version, role=m.role, weight=m.weight)
        for m in members
    )
    _audit_record(
        group,
        action=RoleChangeAction.CREATE,
        actor=created_by,
        to_version_id=champion.model_version.pk if champion else None,
        reason="Group created.",
    )
    return group


@transaction.atomic
def group_update(
    *,
    group: ModelGroup,
    actor: AbstractBaseUser | None,
    name: str | None = None,
    description: str | None = None,
    routing_mode: str | None = None,
    deletion_policy: str | None = None,
    is_active: bool | None = None,
    task: str | None = None,
    features: Sequence[str] | None = None,
    members: Sequence[MemberSpec] | None = None,
    reason: str = "",
) -> ModelGroup:
    """Change a group's details and, when `members` is given, replace its members.

    The slug and the table name never change, even when the name does. New `features`
    must be accepted by every member.
    """
    locked, memberships = _locked(group)
    name = locked.name if name is None else name.strip()
    routing_mode = routing_mode or locked.routing_mode
    deletion_policy = deletion_policy or locked.deletion_policy
    active = locked.is_active if is_active is None else is_active
    errors = group_fields_errors(
        name=name, routing_mode=routing_mode, deletion_policy=deletion_policy, exclude_pk=locked.pk
    )
    if task is not None and task not in Task.values:
        errors["task"] = [f"Use one of {', '.join(Task.values)}."]
    if features is None:
        features = list(locked.features)
    elif not isinstance(features, list | tuple) or not all(
        isinstance(feature, str) and feature for feature in features
    ):
        errors["features"] = ['Features are a list of feature names, e.g. ["income", "age"].']
        features = list(locked.features)
    else:
        features = list(features)
    new_members = list(members) if members is not None else _specs(memberships)
    _merge(errors, group_members_errors(members=new_members, features=features, active=active))
    if errors:
        raise GroupValidationError(errors)

    locked.name, locked.routing_mode, locked.deletion_policy, locked.is_active = (
        name,
        routing_mode,
        deletion_policy,
        active,
    )
    if description is not None:
        locked.description = description
    if task is not None:
        locked.task = task
    locked.features = features
    locked.save(
        update_fields=[
            "name",
            "description",
            "task",
            "features",
            "routing_mode",
            "deletion_policy",
            "is_active",
            "updated_at",
        ]
    )
    if members is not None:
        before = _snapshot(locked)
        wanted = {m.model_version.pk: m for m in new_members}
        for membership in memberships:
            if membership.model_version_id not in wanted:
                membership.delete()
        existing = {m.model_version_id: m for m in memberships}
        for version_id, spec in wanted.items():
            current = existing.get(version_id)
            if current is None:
                Membership.objects.create(
                    group=locked,
                    model_version=spec.model_version,
                    role=spec.role,
                    weight=spec.weight,
                )
            elif (current.role, current.weight) != (spec.role, spec.weight):
                current.role, current.weight = spec.role, spec.weight
                current.save(update_fields=["role", "weight"])
        after = _snapshot(locked)
        if after != before:
            RoleChange.objects.create(
                group=locked,
                action=RoleChangeAction.MEMBERS_EDIT,
                actor=actor,
                from_version_id=_champion_id(before),
                to_version_id=_champion_id(after),
                weights_before=before,
                weights_after=after,
                reason=reason,
            )
    routing_invalidate()
    group.refresh_from_db()
    return locked


def _champion_id(snapshot: list[dict[str, Any]]) -> int | None:
    return next((row["model_version"] for row in snapshot if row["role"] == Role.CHAMPION), None)


@transaction.atomic
def group_delete(*, group: ModelGroup, actor: AbstractBaseUser | None) -> None:
    """Delete a group; its table is archived or dropped (by its policy) in this transaction."""
    from groups.auth import api_key_cache_forget  # groups.auth imports this module

    locked = ModelGroup.objects.select_for_update().get(pk=group.pk)
    key_hashes = list(locked.api_keys.values_list("key_hash", flat=True))
    locked.delete()  # pre_delete runs inference/signals.py: archive or drop the table
    transaction.on_commit(lambda: api_key_cache_forget(key_hashes))
    routing_invalidate()


@transaction.atomic
def membership_add(
    *,
    group: ModelGroup,
    model_version: ModelVersion,
    role: str = Role.CHALLENGER,
    weight: int = 0,
    actor: AbstractBaseUser | None,
    reason: str = "",
) -> Membership:
    """Add a version to a group (usually a challenger at 0% or a shadow, then set traffic)."""
    locked, memberships = _locked(group)
    if any(m.model_version_id == model_version.pk for m in memberships):
        raise GroupValidationError(
            {
                "model_version": [
                    f"{_version_label(model_version)} is already a member of {locked.name}."
                ]
            }
        )
    members = [*_specs(memberships), MemberSpec(model_version, role, weight)]
    _check(members, locked)
    before = _snapshot(locked)
    membership = Membership.objects.create(
        group=locked, model_version=model_version, role=role, weight=weight
    )
    _audit_record(
        locked,
        action=RoleChangeAction.MEMBER_ADD,
        actor=actor,
        before=before,
        to_version_id=model_version.pk,
        reason=reason,
    )
    return membership


@transaction.atomic
def group_promote(
    *,
    group: ModelGroup,
    model_version: ModelVersion,
    actor: AbstractBaseUser | None,
    reason: str = "",
    former_champion_role: str = Role.CHALLENGER,
) -> RoleChange:
    """Make a member the champion with 100% of the traffic.

    The former champion stays a member with weight 0 (as a challenger, or a shadow when
    asked); the other challengers keep their role at weight 0.
    """
    locked, memberships = _locked(group)
    target = next((m for m in memberships if m.model_version_id == model_version.pk), None)
    if target is None:
        raise GroupValidationError(
            {
                "model_version": [
                    f"{_version_label(model_version)} is not a member of {locked.name}."
                ]
            }
        )
    if target.role == Role.CHAMPION:
        raise GroupValidationError(
            {"model_version": [f"{_version_label(model_version)} is already the champion."]}
        )
    if former_champion_role not in (Role.CHALLENGER, Role.SHADOW):
        raise GroupValidationError(
            {"former_champion_role": ["The former champion stays a challenger or a shadow."]}
        )
    former = next((m for m in memberships if m.role == Role.CHAMPION), None)
    after = promoted(
        _route_members(_specs(memberships)),
        model_version.pk,
        former_champion_role=former_champion_role,
    )
    changes = {m.version_id: (m.role, m.weight) for m in after}
    _check([MemberSpec(m.model_version, *changes[m.model_version_id]) for m in memberships], locked)
    before = _snapshot(locked)
    _save_weights(memberships, changes)
    return _audit_record(
        locked,
        action=RoleChangeAction.PROMOTE,
        actor=actor,
        before=before,
        from_version_id=former.model_version_id if former else None,
        to_version_id=model_version.pk,
        reason=reason,
    )


@transaction.atomic
def group_set_traffic(
    *,
    group: ModelGroup,
    weights: dict[int, int],
    actor: AbstractBaseUser | None,
    reason: str = "",
) -> RoleChange:
    """Set canary weights by model version id; members not named keep their weight."""
    locked, memberships = _locked(group)
    by_version = {m.model_version_id: m for m in memberships}
    errors: Errors = {}
    clean: dict[int, int] = {}
    for raw_id, raw_weight in weights.items():
        try:
            version_id, weight = int(raw_id), int(raw_weight)
        except (TypeError, ValueError):
            errors.setdefault("weights", []).append(
                f"{raw_id!r}: {raw_weight!r} is not a whole-number weight."
            )
            continue
        if version_id not in by_version:
            errors.setdefault("weights", []).append(
                f"Model version {version_id} is not a member of {locked.name}."
            )
            continue
        clean[version_id] = weight
    if errors:
        raise GroupValidationError(errors)
    changes = {
        m.model_version_id: (m.role, clean.get(m.model_version_id, m.weight)) for m in memberships
    }
    _check([MemberSpec(m.model_version, *changes[m.model_version_id]) for m in memberships], locked)
    before = _snapshot(locked)
    _save_weights(memberships, changes)
    champion = next((m for m in memberships if m.role == Role.CHAMPION), None)
    return _audit_record(
        locked,
        action=RoleChangeAction.SET_TRAFFIC,
        actor=actor,
        before=before,
        from_version_id=champion.model_version_id if champion else None,
        to_version_id=champion.model_version_id if champion else None,
        reason=reason,
    )


@transaction.atomic
def group_rollback(
    *, group: ModelGroup, actor: AbstractBaseUser | None, reason: str = ""
) -> RoleChange:
    """Undo the latest promotion not yet rolled back: the champion and weights before it.

    Members that joined since the promotion keep their role at weight 0 (a shadow stays a
    shadow); a rollback is itself recorded, and the next one goes one promotion further back.
    """
    locked, memberships = _locked(group)
    promotion = (
        locked.role_changes.select_for_update()
        .filter(action=RoleChangeAction.PROMOTE, rolled_back_by__isnull=True)
        .order_by("-created_at", "-id")
        .first()
    )
    if promotion is None:
        raise GroupValidationError({"group": [f"{locked.name} has no promotion to roll back."]})
    by_version = {m.model_version_id: m for m in memberships}
    restored = {
        row["model_version"]: (row["role"], row["weight"]) for row in promotion.weights_before
    }
    champion_id = _champion_id(promotion.weights_before)
    if champion_id is not None and champion_id not in by_version:
        raise GroupValidationError(
            {
                "group": [
                    "The previous champion is no longer a member of this group: add it back first."
                ]
            }
        )
    changes: dict[int, tuple[str, int]] = {}
    for version_id, membership in by_version.items():
        if version_id in restored:
            changes[version_id] = restored[version_id]
        else:
            role = Role.SHADOW if membership.role == Role.SHADOW else Role.CHALLENGER
            changes[version_id] = (role, 0)
    _check([MemberSpec(m.model_version, *changes[m.model_version_id]) for m in memberships], locked)
    before = _snapshot(locked)
    current_champion = next((m for m in memberships if m.role == Role.CHAMPION), None)
    _save_weights(memberships, changes)
    change = _audit_record(
        locked,
        action=RoleChangeAction.ROLLBACK,
        actor=actor,
        before=before,
        from_version_id=current_champion.model_version_id if current_champion else None,
        to_version_id=champion_id,
        reason=reason
        or f"Rolled back the promotion of {promotion.created_at:%Y-%m-%d %H:%M:%S} UTC.",
    )
    promotion.rolled_back_by = change
    promotion.save(update_fields=["rolled_back_by"])
    return change
