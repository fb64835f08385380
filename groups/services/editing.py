"""Creating, editing and deleting groups and their members."""

from collections.abc import Sequence

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

from core.errors import Conflict
from core.models import Team, default_team_id
from groups.models import (
    DeletionPolicy,
    Membership,
    ModelGroup,
    Role,
    RoleChangeAction,
    RoutingMode,
)
from groups.routing_cache import api_key_cache_forget, routing_invalidate
from groups.services.common import (
    Errors,
    GroupValidationError,
    MemberSpec,
    _audit_record,
    _champion_id,
    _check,
    _locked,
    _merge,
    _snapshot,
    _specs,
    _version_label,
    group_default_features,
    group_fields_errors,
    group_members_errors,
    group_slug,
    traffic_split,
    who,
)
from registry.models import ModelVersion, Task

# The fields group_update may change, in the order the audit reason lists them.
EDITABLE_FIELDS = (
    "name",
    "description",
    "task",
    "features",
    "routing_mode",
    "deletion_policy",
    "is_active",
    "requires_approval",
)


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
    team: Team | None = None,
    requires_approval: bool = False,
    created_by: object = None,
) -> ModelGroup:
    """Create a group with its members; its inference table is made in this transaction.

    The slug comes from the name and never changes. `features` default to the champion's
    declared features; `task` to the champion's model's task; `team` to the default team.
    `created_by`: a person, an API key's principal, or None.
    """
    name = (name or "").strip()
    errors = group_fields_errors(
        name=name, routing_mode=routing_mode, deletion_policy=deletion_policy
    )
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
                slug=group_slug(name),
                description=description,
                task=task,
                routing_mode=routing_mode,
                deletion_policy=deletion_policy,
                features=features,
                team_id=team.pk if team is not None else default_team_id(),
                requires_approval=requires_approval,
                created_by=who(created_by).user,
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


def _features_value(features: object, current: list[str], errors: Errors) -> list[str]:
    if features is None:
        return list(current)
    if not isinstance(features, list | tuple) or not all(
        isinstance(feature, str) and feature for feature in features
    ):
        errors["features"] = ['Features are a list of feature names, e.g. ["income", "age"].']
        return list(current)
    return list(features)


def _new_values(locked: ModelGroup, changes: dict[str, object]) -> tuple[dict[str, object], Errors]:
    """The group's fields after `changes` (None = unchanged), and what is wrong with them."""
    values = {
        field: getattr(locked, field) if changes.get(field) is None else changes[field]
        for field in EDITABLE_FIELDS
    }
    values["name"] = str(values["name"]).strip()
    errors = group_fields_errors(
        name=values["name"],
        routing_mode=values["routing_mode"],
        deletion_policy=values["deletion_policy"],
        exclude_pk=locked.pk,
    )
    if values["task"] not in Task.values:
        errors["task"] = [f"Use one of {', '.join(Task.values)}."]
    values["features"] = _features_value(changes.get("features"), locked.features, errors)
    return values, errors


def _members_replace(
    locked: ModelGroup, memberships: list[Membership], new_members: Sequence[MemberSpec]
) -> None:
    wanted = {m.model_version.pk: m for m in new_members}
    for membership in memberships:
        if membership.model_version_id not in wanted:
            membership.delete()
    existing = {m.model_version_id: m for m in memberships}
    for version_id, spec in wanted.items():
        current = existing.get(version_id)
        if current is None:
            Membership.objects.create(
                group=locked, model_version=spec.model_version, role=spec.role, weight=spec.weight
            )
        elif (current.role, current.weight) != (spec.role, spec.weight):
            current.role, current.weight = spec.role, spec.weight
            current.save(update_fields=["role", "weight"])


def _refuse_unapproved_split(locked: ModelGroup, before: list, new_members: Sequence[MemberSpec]):
    """On a group that requires approval, editing members may add or remove members
    without traffic, never move traffic: that is a promotion or a traffic change."""
    after = [
        {"model_version": m.model_version.pk, "role": m.role, "weight": m.weight}
        for m in new_members
    ]
    if locked.requires_approval and traffic_split(before) != traffic_split(after):
        raise Conflict(
            f"{locked.name} requires approval: change its champion or traffic with a promotion "
            "or a traffic change, which another person approves.",
            {"members": ["Roles and weights of members with traffic cannot be edited here."]},
        )


def _audit_update(
    locked: ModelGroup, before: list, edited: list[str], *, actor: object, reason: str
) -> None:
    after = _snapshot(locked)
    if after == before and not edited:
        return
    _audit_record(
        locked,
        action=RoleChangeAction.MEMBERS_EDIT if after != before else RoleChangeAction.EDIT,
        actor=actor,
        before=before,
        from_version_id=_champion_id(before),
        to_version_id=_champion_id(after),
        reason=reason or (f"Changed {', '.join(edited)}." if edited else ""),
    )


@transaction.atomic
def group_update(
    *,
    group: ModelGroup,
    actor: object,
    name: str | None = None,
    description: str | None = None,
    routing_mode: str | None = None,
    deletion_policy: str | None = None,
    is_active: bool | None = None,
    task: str | None = None,
    features: Sequence[str] | None = None,
    requires_approval: bool | None = None,
    members: Sequence[MemberSpec] | None = None,
    reason: str = "",
) -> ModelGroup:
    """Change a group's details and, when `members` is given, replace its members.

    The slug and the table name never change, even when the name does. New `features`
    must be accepted by every member. Recorded in the audit trail (one entry).
    """
    locked, memberships = _locked(group)
    changes = {
        "name": name,
        "description": description,
        "routing_mode": routing_mode or None,
        "deletion_policy": deletion_policy or None,
        "is_active": is_active,
        "task": task,
        "features": features,
        "requires_approval": requires_approval,
    }
    values, errors = _new_values(locked, changes)
    new_members = list(members) if members is not None else _specs(memberships)
    _merge(
        errors,
        group_members_errors(
            members=new_members, features=values["features"], active=values["is_active"]
        ),
    )
    if errors:
        raise GroupValidationError(errors)
    before = _snapshot(locked)
    if members is not None:
        _refuse_unapproved_split(locked, before, new_members)
    edited = [field for field in EDITABLE_FIELDS if getattr(locked, field) != values[field]]
    for field in edited:
        setattr(locked, field, values[field])
    locked.save(update_fields=[*EDITABLE_FIELDS, "updated_at"])
    if members is not None:
        _members_replace(locked, memberships, new_members)
    _audit_update(locked, before, edited, actor=actor, reason=reason)
    group.refresh_from_db()
    return locked


@transaction.atomic
def group_delete(*, group: ModelGroup, actor: object) -> None:
    """Delete a group; its table is archived or dropped (by its policy) in this transaction."""
    locked = ModelGroup.objects.select_for_update().get(pk=group.pk)
    key_hashes = list(locked.api_keys.values_list("key_hash", flat=True))
    locked.delete()  # pre_delete runs inference/signals.py: archive or drop the table
    transaction.on_commit(lambda: api_key_cache_forget(key_hashes))
    routing_invalidate()  # the group's row is gone: the generation changes with it


@transaction.atomic
def membership_add(
    *,
    group: ModelGroup,
    model_version: ModelVersion,
    role: str = Role.CHALLENGER,
    weight: int = 0,
    actor: AbstractBaseUser | object | None,
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
    if locked.requires_approval and weight > 0:
        _refuse_unapproved_split(locked, before, members)
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
