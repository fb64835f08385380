"""Promotion, traffic and rollback, and the four-eyes rule around them.

On a group that `requires_approval`, each of the three becomes a PendingChange (checked
first, so a change that could not apply is refused at once); another person approves it,
and `pending_change_approve` applies it through the same function as a direct change,
recording both people.
"""

from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from core.errors import Conflict, Forbidden
from groups.models import (
    Membership,
    ModelGroup,
    PendingAction,
    PendingChange,
    PendingStatus,
    Role,
    RoleChange,
    RoleChangeAction,
)
from groups.routing import promoted
from groups.services.common import (
    Errors,
    GroupValidationError,
    MemberSpec,
    Who,
    _audit_record,
    _champion_id,
    _check,
    _locked,
    _route_members,
    _save_weights,
    _snapshot,
    _specs,
    _version_label,
    group_evidence,
    who,
)
from registry.models import ModelVersion

Applier = Callable[..., RoleChange]


def _checked(locked: ModelGroup, memberships: list[Membership], changes: dict) -> None:
    _check([MemberSpec(m.model_version, *changes[m.model_version_id]) for m in memberships], locked)


def _apply_promote(
    locked: ModelGroup, memberships: list[Membership], payload: dict, **audit: Any
) -> RoleChange:
    version_id = int(payload["model_version"])
    target = next((m for m in memberships if m.model_version_id == version_id), None)
    if target is None:
        version = ModelVersion.objects.select_related("model").filter(pk=version_id).first()
        label = _version_label(version) if version else f"Model version {version_id}"
        raise GroupValidationError(
            {"model_version": [f"{label} is not a member of {locked.name}."]}
        )
    if target.role == Role.CHAMPION:
        raise GroupValidationError(
            {"model_version": [f"{_version_label(target.model_version)} is already the champion."]}
        )
    former_role = payload.get("former_champion_role", Role.CHALLENGER)
    if former_role not in (Role.CHALLENGER, Role.SHADOW):
        raise GroupValidationError(
            {"former_champion_role": ["The former champion stays a challenger or a shadow."]}
        )
    former = next((m for m in memberships if m.role == Role.CHAMPION), None)
    after = promoted(
        _route_members(_specs(memberships)), version_id, former_champion_role=former_role
    )
    changes = {m.version_id: (m.role, m.weight) for m in after}
    _checked(locked, memberships, changes)
    before = _snapshot(locked)
    _save_weights(memberships, changes)
    return _audit_record(
        locked,
        action=RoleChangeAction.PROMOTE,
        before=before,
        from_version_id=former.model_version_id if former else None,
        to_version_id=version_id,
        **audit,
    )


def _clean_weights(locked: ModelGroup, weights: dict, members: set[int]) -> dict[int, int]:
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
        if version_id not in members:
            errors.setdefault("weights", []).append(
                f"Model version {version_id} is not a member of {locked.name}."
            )
            continue
        clean[version_id] = weight
    if errors:
        raise GroupValidationError(errors)
    return clean


def _apply_traffic(
    locked: ModelGroup, memberships: list[Membership], payload: dict, **audit: Any
) -> RoleChange:
    clean = _clean_weights(locked, payload["weights"], {m.model_version_id for m in memberships})
    changes = {
        m.model_version_id: (m.role, clean.get(m.model_version_id, m.weight)) for m in memberships
    }
    _checked(locked, memberships, changes)
    before = _snapshot(locked)
    _save_weights(memberships, changes)
    champion_id = _champion_id(before)
    return _audit_record(
        locked,
        action=RoleChangeAction.SET_TRAFFIC,
        before=before,
        from_version_id=champion_id,
        to_version_id=champion_id,
        **audit,
    )


def _promotion_to_undo(locked: ModelGroup) -> RoleChange | None:
    return (
        locked.role_changes.select_for_update()
        .filter(action=RoleChangeAction.PROMOTE, rolled_back_by__isnull=True)
        .order_by("-created_at", "-id")
        .first()
    )


def _apply_rollback(
    locked: ModelGroup, memberships: list[Membership], payload: dict, **audit: Any
) -> RoleChange:
    promotion = _promotion_to_undo(locked)
    if promotion is None:
        raise GroupValidationError({"group": [f"{locked.name} has no promotion to roll back."]})
    expected = payload.get("promotion")
    if expected is not None and promotion.pk != expected:
        raise GroupValidationError(
            {"group": ["The promotion this rollback was to undo is no longer the latest one."]}
        )
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
    changes = {
        version_id: restored.get(
            version_id, (Role.SHADOW if m.role == Role.SHADOW else Role.CHALLENGER, 0)
        )
        for version_id, m in by_version.items()
    }
    _checked(locked, memberships, changes)
    before = _snapshot(locked)
    audit["reason"] = (
        audit["reason"]
        or f"Rolled back the promotion of {promotion.created_at:%Y-%m-%d %H:%M:%S} UTC."
    )
    _save_weights(memberships, changes)
    change = _audit_record(
        locked,
        action=RoleChangeAction.ROLLBACK,
        before=before,
        from_version_id=_champion_id(before),
        to_version_id=champion_id,
        **audit,
    )
    promotion.rolled_back_by = change
    promotion.save(update_fields=["rolled_back_by"])
    return change


APPLY: dict[str, Applier] = {
    PendingAction.PROMOTE: _apply_promote,
    PendingAction.SET_TRAFFIC: _apply_traffic,
    PendingAction.ROLLBACK: _apply_rollback,
}


class _DryRun(Exception):
    """Undoes a change that was applied only to check it could be."""


def _check_applies(apply: Applier, locked: ModelGroup, memberships: list, payload: dict) -> None:
    try:
        with transaction.atomic():  # a savepoint: its writes and on-commit hooks are dropped
            apply(locked, memberships, payload, actor=Who(), reason="", approved_by=None)
            raise _DryRun
    except _DryRun:
        pass


# Who decides whether a change waits for an Approver: the group's own flag; always (a
# rollout's final approval); or nobody, for the steps of a gated rollout, which its plan
# already fixed (its final step and promotion still follow the group's flag).
APPROVAL_BY_GROUP, APPROVAL_ALWAYS, APPROVAL_PLANNED = "group", "always", "planned"


def _needs_approval(group: ModelGroup, approval: str) -> bool:
    if approval == APPROVAL_PLANNED:
        return False
    return approval == APPROVAL_ALWAYS or group.requires_approval


def _submit(
    group: ModelGroup,
    action: str,
    payload: dict,
    *,
    actor: object,
    reason: str,
    approval: str = APPROVAL_BY_GROUP,
) -> RoleChange | PendingChange:
    """Apply a change now, or, when it needs approval, record it as pending."""
    locked, memberships = _locked(group)
    apply = APPLY[action]
    if not _needs_approval(locked, approval):
        return apply(
            locked,
            memberships,
            payload,
            actor=actor,
            reason=reason,
            approved_by=None,
            evidence=group_evidence(locked),
        )
    if action == PendingAction.ROLLBACK:
        promotion = _promotion_to_undo(locked)
        payload = {"promotion": promotion.pk if promotion else None}
    _check_applies(apply, locked, memberships, payload)
    author = who(actor)
    return PendingChange.objects.create(
        group=locked,
        action=action,
        payload=payload,
        reason=reason,
        author=author.user,
        author_key_id=author.api_key_id,
    )


@transaction.atomic
def group_promote(
    *,
    group: ModelGroup,
    model_version: ModelVersion,
    actor: object,
    reason: str = "",
    former_champion_role: str = Role.CHALLENGER,
    approval: str = APPROVAL_BY_GROUP,
) -> RoleChange | PendingChange:
    """Make a member the champion with 100% of the traffic (or ask for it, see module doc).

    The former champion stays a member with weight 0 (as a challenger, or a shadow when
    asked); the other challengers keep their role at weight 0.
    """
    payload = {"model_version": model_version.pk, "former_champion_role": former_champion_role}
    return _submit(
        group, PendingAction.PROMOTE, payload, actor=actor, reason=reason, approval=approval
    )


@transaction.atomic
def group_set_traffic(
    *,
    group: ModelGroup,
    weights: dict[int, int],
    actor: object,
    reason: str = "",
    approval: str = APPROVAL_BY_GROUP,
) -> RoleChange | PendingChange:
    """Set canary weights by model version id; members not named keep their weight."""
    payload = {"weights": {str(k): v for k, v in weights.items()}}
    return _submit(
        group, PendingAction.SET_TRAFFIC, payload, actor=actor, reason=reason, approval=approval
    )


@transaction.atomic
def group_rollback(
    *, group: ModelGroup, actor: object, reason: str = ""
) -> RoleChange | PendingChange:
    """Undo the latest promotion not yet rolled back: the champion and weights before it.

    Members that joined since the promotion keep their role at weight 0 (a shadow stays a
    shadow); a rollback is itself recorded, and the next one goes one promotion further back.
    """
    return _submit(group, PendingAction.ROLLBACK, {}, actor=actor, reason=reason)


def _decidable(pending: PendingChange, person: AbstractBaseUser) -> PendingChange:
    """The pending row, locked (two approvals at once apply once), if `person` may decide."""
    locked = PendingChange.objects.select_for_update().select_related("group").get(pk=pending.pk)
    if locked.status != PendingStatus.PENDING:
        raise Conflict(
            f"This change was already {locked.get_status_display().lower()}.",
            {"status": [f"The change is {locked.status}, not pending."]},
        )
    if locked.author_id is not None and locked.author_id == person.pk:
        raise Forbidden(
            "You made this change: another person must approve or reject it.",
            {"permission": ["The author of a change cannot approve or reject it."]},
        )
    return locked


@transaction.atomic
def pending_change_approve(*, pending: PendingChange, approver: AbstractBaseUser) -> RoleChange:
    """Apply a pending change, recording its author and its approver (409 when it no longer
    applies, e.g. the version left the group; it then stays pending, to be rejected)."""
    locked = _decidable(pending, approver)
    group, memberships = _locked(locked.group)
    author = Who(user=locked.author, api_key_id=locked.author_key_id)
    try:
        with transaction.atomic():
            change = APPLY[locked.action](
                group,
                memberships,
                locked.payload,
                actor=author,
                reason=locked.reason,
                approved_by=approver,
                evidence=group_evidence(group),
            )
    except GroupValidationError as error:
        raise Conflict(
            f"This change no longer applies: {error.message} Reject it instead.", error.errors
        ) from error
    locked.status, locked.decided_by, locked.decided_at = (
        PendingStatus.APPLIED,
        approver,
        timezone.now(),
    )
    locked.role_change = change
    locked.save(update_fields=["status", "decided_by", "decided_at", "role_change"])
    pending.refresh_from_db()
    return change


@transaction.atomic
def pending_change_reject(*, pending: PendingChange, approver: AbstractBaseUser) -> PendingChange:
    """Refuse a pending change: nothing is applied; the decision is kept."""
    locked = _decidable(pending, approver)
    locked.status, locked.decided_by, locked.decided_at = (
        PendingStatus.REJECTED,
        approver,
        timezone.now(),
    )
    locked.save(update_fields=["status", "decided_by", "decided_at"])
    pending.refresh_from_db()
    return locked
