"""Every write of a rollout: start, one tick, pause, resume, abort.

A rollout never changes a group itself: stepping goes through `group_set_traffic`, the end
through `group_promote`, a rollback sets the challenger to 0% with `group_set_traffic`
(it stays a member), so the audit trail, caches and routing stay one mechanism. When the
group services answer with a pending change (a group that requires approval), or the
rollout asks for a final approval, the rollout waits in `awaiting_approval` until an
Approver approves or rejects it through the groups' four-eyes pages and API.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import datetime
from typing import Any

from django.apps import apps as django_apps
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import Conflict, ServiceError
from core.permissions import is_api_key
from groups.models import Membership, ModelGroup, PendingChange, PendingStatus, Role
from groups.services import (
    APPROVAL_ALWAYS,
    APPROVAL_BY_GROUP,
    APPROVAL_PLANNED,
    MemberSpec,
    Who,
    group_promote,
    group_set_traffic,
    group_update,
    membership_add,
)
from registry.models import ModelVersion
from rollouts import decide as rules
from rollouts.evidence import snapshot
from rollouts.models import ACTIVE_STATES, DecisionAction, Rollout, RolloutDecision, RolloutState
from rollouts.plans import plan_errors, plan_for

logger = logging.getLogger(__name__)

# A hold is recorded when it follows another action, or this long after the last record:
# the timeline keeps the bound's path without a row every minute.
HOLD_RECORD_MINUTES = 10


class RolloutError(ServiceError):
    """A rollout cannot be started or changed as asked; nothing was changed."""


def _label(version: ModelVersion) -> str:
    return f"{version.model.name} {version.version}"


def _record(
    rollout: Rollout,
    action: str,
    reason: str,
    *,
    now: datetime,
    evidence: dict | None = None,
    actor: object = None,
) -> RolloutDecision:
    evidence = dict(evidence or {})
    evidence.setdefault(
        "members",
        {
            "champion": {"version_id": rollout.champion_id, "label": _label(rollout.champion)},
            "challenger": {
                "version_id": rollout.challenger_id,
                "label": _label(rollout.challenger),
            },
        },
    )
    person = actor if getattr(actor, "pk", None) is not None and not is_api_key(actor) else None
    return RolloutDecision.objects.create(
        rollout=rollout,
        at=now,
        action=action,
        step_index=rollout.step_index,
        weight=rollout.current_weight,
        reason=reason,
        evidence=evidence,
        actor=person,
    )


def _weights(rollout: Rollout, memberships: list[Membership], weight: int) -> dict[int, int]:
    """Champion 100 - w, challenger w, every other member with traffic 0: the rollout
    owns the split."""
    weights = {m.model_version_id: 0 for m in memberships if m.weight > 0}
    weights[rollout.champion_id] = 100 - weight
    weights[rollout.challenger_id] = weight
    return weights


def _starter_who(rollout: Rollout) -> Who:
    return Who(user=rollout.created_by, api_key_id=rollout.created_by_key_id)


def _set_split(
    rollout: Rollout, weight: int, *, actor: object, reason: str
) -> PendingChange | None:
    """Set the challenger's weight through the group service; the pending change, if the
    group requires approval for it. Steps below 100% and rollbacks are the plan's (applied at
    once, so a guardrail breach never waits for a person); the last step follows the group."""
    memberships = list(rollout.group.memberships.all())
    planned = weight < 100
    result = group_set_traffic(
        group=rollout.group,
        weights=_weights(rollout, memberships, weight),
        # A change that waits for an Approver is the starter's: they cannot approve it.
        actor=actor if planned or not rollout.group.requires_approval else _starter_who(rollout),
        reason=f"Rollout #{rollout.pk}: {reason}",
        approval=APPROVAL_PLANNED if planned else APPROVAL_BY_GROUP,
    )
    return result if isinstance(result, PendingChange) else None


def _set_role(rollout: Rollout, role: str, *, actor: object) -> None:
    """Make the challenger a shadow or a challenger (weight 0), through group_update."""
    memberships = list(rollout.group.memberships.select_related("model_version__model"))
    if next(m for m in memberships if m.model_version_id == rollout.challenger_id).role == role:
        return
    members = [
        MemberSpec(
            m.model_version,
            role if m.model_version_id == rollout.challenger_id else m.role,
            0 if m.model_version_id == rollout.challenger_id else m.weight,
        )
        for m in memberships
    ]
    group_update(
        group=rollout.group,
        actor=actor,
        members=members,
        reason=f"Rollout #{rollout.pk}: the challenger runs as a {role}.",
    )


def _champion(group: ModelGroup) -> Membership:
    champion = (
        group.memberships.filter(role=Role.CHAMPION).select_related("model_version__model").first()
    )
    if champion is None:
        raise RolloutError({"group": [f"{group.name} has no champion to compare against."]})
    return champion


def _join(
    group: ModelGroup, challenger: ModelVersion, *, shadow_first: bool, actor: object
) -> None:
    if not group.memberships.filter(model_version=challenger).exists():
        role = Role.SHADOW if shadow_first else Role.CHALLENGER
        membership_add(
            group=group,
            model_version=challenger,
            role=role,
            weight=0,
            actor=actor,
            reason="Joined for a gated rollout.",
        )


def _startable(
    locked: ModelGroup, challenger: ModelVersion, plan: dict[str, Any]
) -> tuple[dict, Membership]:
    """The plan's full values and the champion, or the error that refuses the start."""
    values = plan_for(plan)
    errors = plan_errors(values, task=locked.task)
    if errors:
        raise RolloutError(errors)
    active = locked.rollouts.filter(state__in=ACTIVE_STATES).first()
    if active is not None:
        raise Conflict(
            f"{locked.name} already has an active rollout (#{active.pk}, "
            f"{active.get_state_display().lower()}).",
            {"group": ["One active rollout per group: finish or abort the current one first."]},
        )
    champion = _champion(locked)
    if champion.model_version_id == challenger.pk:
        raise RolloutError({"challenger": [f"{_label(challenger)} is already the champion."]})
    return values, champion


def _starter(actor: object) -> dict[str, Any]:
    if is_api_key(actor):
        return {"created_by": None, "created_by_key_id": actor.grant.id}
    return {"created_by": actor if getattr(actor, "pk", None) is not None else None}


def _create(
    locked: ModelGroup,
    challenger: ModelVersion,
    champion: Membership,
    values: dict,
    *,
    actor: object,
    now: datetime,
) -> Rollout:
    shadow = values["shadow_first"]
    try:
        with transaction.atomic():
            return Rollout.objects.create(
                group=locked,
                challenger=challenger,
                champion=champion.model_version,
                state=RolloutState.RUNNING,
                step_index=rules.SHADOW_STEP if shadow else 0,
                step_started_at=now,
                traffic_started_at=None if shadow else now,
                started_at=now,
                **_starter(actor),
                **values,
            )
    except IntegrityError as error:
        raise Conflict(
            {"group": ["One active rollout per group: another one just started."]}
        ) from error


@transaction.atomic
def rollout_start(
    *,
    group: ModelGroup,
    challenger: ModelVersion,
    actor: object,
    now: datetime | None = None,
    **plan: Any,
) -> Rollout:
    """Start a rollout of `challenger` (a member, or added as one) with the plan's values
    (rollouts/plans.py has the defaults); the first step's split is set at once."""
    now = now or timezone.now()
    locked = ModelGroup.objects.select_for_update().get(pk=group.pk)
    values, champion = _startable(locked, challenger, plan)
    _join(locked, challenger, shadow_first=values["shadow_first"], actor=actor)
    rollout = _create(locked, challenger, champion, values, actor=actor, now=now)
    if values["shadow_first"]:
        _set_role(rollout, Role.SHADOW, actor=actor)
        _record(
            rollout,
            DecisionAction.START,
            f"Started: {_label(challenger)} runs as a shadow "
            "(0% of answers, scored on the same requests) before its first step.",
            now=now,
            actor=actor,
        )
        return rollout
    _set_role(rollout, Role.CHALLENGER, actor=actor)
    weight = rollout.current_weight
    pending = _set_split(rollout, weight, actor=actor, reason=f"first step, {weight}%")
    _record(
        rollout,
        DecisionAction.START,
        f"Started: {_label(challenger)} takes {weight}% of the traffic.",
        now=now,
        actor=actor,
    )
    if pending is not None:
        _await(rollout, pending, DecisionAction.ADVANCE, now=now, evidence={})
    return rollout


def _await(
    rollout: Rollout, pending: PendingChange, action: str, *, now: datetime, evidence: dict
) -> RolloutDecision:
    rollout.state, rollout.pending_change, rollout.pending_action = (
        RolloutState.AWAITING_APPROVAL,
        pending,
        action,
    )
    rollout.save(update_fields=["state", "pending_change", "pending_action"])
    return _record(
        rollout,
        DecisionAction.AWAIT_APPROVAL,
        f"The {action} waits for an Approver: pending change #{pending.pk} of {rollout.group.name}.",
        now=now,
        evidence=evidence,
    )


def _end(rollout: Rollout, state: str, now: datetime) -> None:
    rollout.state, rollout.ended_at = state, now
    rollout.pending_change, rollout.pending_action = None, ""
    rollout.save(update_fields=["state", "ended_at", "pending_change", "pending_action"])
    _alert_resolve(rollout)


def _next_step(rollout: Rollout, now: datetime) -> None:
    if rollout.step_index == rules.SHADOW_STEP:
        rollout.traffic_started_at = now
    rollout.step_index += 1
    rollout.step_started_at = now
    rollout.state, rollout.pending_change, rollout.pending_action = RolloutState.RUNNING, None, ""
    rollout.save(
        update_fields=[
            "step_index",
            "step_started_at",
            "traffic_started_at",
            "state",
            "pending_change",
            "pending_action",
        ]
    )


def _advance(rollout: Rollout, decision: rules.Decision, now: datetime) -> RolloutDecision:
    if rollout.step_index == rules.SHADOW_STEP:
        _set_role(rollout, Role.CHALLENGER, actor=None)
    weight = int(rollout.steps[rollout.step_index + 1])
    pending = _set_split(
        rollout, weight, actor=None, reason=f"advance to {weight}%. {decision.reason}"
    )
    if pending is not None:
        return _await(rollout, pending, DecisionAction.ADVANCE, now=now, evidence=decision.evidence)
    _next_step(rollout, now)
    # Recorded at the new step: the staircase shows the weight from this moment on.
    return _record(
        rollout, DecisionAction.ADVANCE, decision.reason, now=now, evidence=decision.evidence
    )


def _promote(rollout: Rollout, decision: rules.Decision, now: datetime) -> RolloutDecision:
    # With final approval the promotion is the groups' own pending change, so an Approver
    # decides it where every other approval is decided; its author is the rollout's starter,
    # who therefore cannot approve it.
    waits = rollout.final_approval or rollout.group.requires_approval
    result = group_promote(
        group=rollout.group,
        model_version=rollout.challenger,
        actor=_starter_who(rollout) if waits else None,
        reason=f"Rollout #{rollout.pk}: {decision.reason}",
        approval=APPROVAL_ALWAYS if rollout.final_approval else APPROVAL_BY_GROUP,
    )
    if isinstance(result, PendingChange):
        return _await(rollout, result, DecisionAction.PROMOTE, now=now, evidence=decision.evidence)
    record = _record(
        rollout, DecisionAction.PROMOTE, decision.reason, now=now, evidence=decision.evidence
    )
    _end(rollout, RolloutState.PROMOTED, now)
    return record


def _rollback(rollout: Rollout, decision: rules.Decision, now: datetime) -> RolloutDecision:
    pending = None
    if rollout.current_weight > 0:
        pending = _set_split(rollout, 0, actor=None, reason=f"rollback to 0%. {decision.reason}")
    if pending is not None:
        return _await(
            rollout, pending, DecisionAction.ROLLBACK, now=now, evidence=decision.evidence
        )
    record = _record(
        rollout, DecisionAction.ROLLBACK, decision.reason, now=now, evidence=decision.evidence
    )
    _end(rollout, RolloutState.ROLLED_BACK, now)
    return record


def _inconclusive(rollout: Rollout, decision: rules.Decision, now: datetime) -> RolloutDecision:
    record = _record(
        rollout, DecisionAction.INCONCLUSIVE, decision.reason, now=now, evidence=decision.evidence
    )
    rollout.state = RolloutState.INCONCLUSIVE
    rollout.save(update_fields=["state"])
    _alert_open(rollout, decision)
    return record


def _hold(rollout: Rollout, decision: rules.Decision, now: datetime) -> RolloutDecision | None:
    last = rollout.decisions.order_by("-at", "-id").first()
    if (
        last is not None
        and last.action == DecisionAction.HOLD
        and ((now - last.at).total_seconds() < HOLD_RECORD_MINUTES * 60)
    ):
        return None
    return _record(
        rollout, DecisionAction.HOLD, decision.reason, now=now, evidence=decision.evidence
    )


APPLY = {
    rules.ADVANCE: _advance,
    rules.PROMOTE: _promote,
    rules.ROLLBACK: _rollback,
    rules.INCONCLUSIVE: _inconclusive,
    rules.HOLD: _hold,
}


def _alerts():
    """monitoring.alerts, once the monitoring app provides it (layer 5, below us)."""
    if not django_apps.is_installed("monitoring"):
        return None
    try:
        from monitoring import alerts
    except ImportError:
        return None
    if hasattr(alerts, "alert_open") and hasattr(alerts, "alert_resolve"):
        return alerts
    return None


def _alert_source(rollout: Rollout) -> str:
    return f"rollout:{rollout.pk}"


def _alert_open(rollout: Rollout, decision: rules.Decision) -> None:
    alerts = _alerts()
    if alerts is None:
        return  # the decision and the state record it; the page shows it
    alerts.alert_open(
        group=rollout.group,
        title=f"Rollout #{rollout.pk} of {_label(rollout.challenger)} is inconclusive",
        severity="warning",
        source=_alert_source(rollout),
        evidence=decision.evidence,
        member=rollout.challenger,
    )


def _alert_resolve(rollout: Rollout) -> None:
    alerts = _alerts()
    if alerts is not None:
        alerts.alert_resolve(group=rollout.group, source=_alert_source(rollout))


def _outside_change(rollout: Rollout) -> str | None:
    """Why the group no longer is what the rollout runs on (someone changed it by hand)."""
    roles = dict(rollout.group.memberships.values_list("model_version_id", "role"))
    if roles.get(rollout.champion_id) != Role.CHAMPION:
        return f"{_label(rollout.champion)} is no longer the champion of {rollout.group.name}."
    if rollout.challenger_id not in roles:
        return f"{_label(rollout.challenger)} is no longer a member of {rollout.group.name}."
    return None


def _follow_approval(rollout: Rollout, now: datetime) -> RolloutDecision | None:
    pending = rollout.pending_change
    if pending is None or pending.status == PendingStatus.PENDING:
        return None
    action, number = rollout.pending_action, pending.pk
    if pending.status == PendingStatus.REJECTED:
        record = _record(
            rollout,
            DecisionAction.ABORT,
            f"{pending.decided_by} rejected pending change #{number} (the {action}): the rollout "
            "stops here and the split stays as it is.",
            now=now,
        )
        _end(rollout, RolloutState.ABORTED, now)
        return record
    reason = f"{pending.decided_by} approved pending change #{number}: the {action} is applied."
    if action == DecisionAction.ADVANCE:
        _next_step(rollout, now)
        return _record(rollout, action, reason, now=now)
    record = _record(rollout, action, reason, now=now)
    ended = RolloutState.PROMOTED if action == DecisionAction.PROMOTE else RolloutState.ROLLED_BACK
    _end(rollout, ended, now)
    return record


@transaction.atomic
def rollout_tick(
    *, rollout: Rollout, now: datetime | None = None
) -> rules.Decision | RolloutDecision | None:
    """Decide and act for one rollout (locked, so two ticks never act twice). Returns the
    decision function's answer (or the approval's record), None when there is nothing to do."""
    now = now or timezone.now()
    locked = (
        Rollout.objects.select_for_update(of=("self",))
        .select_related(
            "group", "champion__model", "challenger__model", "pending_change__decided_by"
        )
        .get(pk=rollout.pk)
    )
    if locked.state == RolloutState.AWAITING_APPROVAL:
        return _follow_approval(locked, now)
    if locked.state != RolloutState.RUNNING:
        return None
    changed = _outside_change(locked)
    if changed:
        record = _record(
            locked, DecisionAction.ABORT, f"Stopped: {changed} The split is left as it is.", now=now
        )
        _end(locked, RolloutState.ABORTED, now)
        return record
    decision = rules.decide(plan_for_rollout(locked), snapshot(locked, now))
    APPLY[decision.action](locked, decision, now)
    return decision


def plan_for_rollout(rollout: Rollout) -> rules.Plan:
    return rules.Plan(
        steps=tuple(int(s) for s in rollout.steps),
        step_min_minutes=rollout.step_min_minutes,
        step_max_minutes=rollout.step_max_minutes,
        min_labelled_per_step=rollout.min_labelled_per_step,
        metric=rollout.metric,
        goal=rollout.goal,
        margin=rollout.margin,
        alpha=rollout.alpha,
        guardrails=rules.Guardrails(**{**asdict(rules.Guardrails()), **rollout.guardrails}),
    )


def rollouts_tick(*, now: datetime | None = None) -> dict[int, str]:
    """One tick of every running rollout (and those waiting for an approval): {id: action}.
    One rollout's failure is logged and never stops the others."""
    outcomes: dict[int, str] = {}
    states = [RolloutState.RUNNING, RolloutState.AWAITING_APPROVAL]
    for rollout in Rollout.objects.filter(state__in=states).order_by("id"):
        try:
            result = rollout_tick(rollout=rollout, now=now)
        except Exception:
            logger.exception("Rollout #%s could not tick", rollout.pk)
            outcomes[rollout.pk] = "error"
            continue
        outcomes[rollout.pk] = getattr(result, "action", "none") if result is not None else "none"
    return outcomes


def _locked(rollout: Rollout) -> Rollout:
    return (
        Rollout.objects.select_for_update(of=("self",))
        .select_related("group", "champion__model", "challenger__model")
        .get(pk=rollout.pk)
    )


def _by(actor: object) -> str:
    return str(actor) if actor is not None else "the system"


@transaction.atomic
def rollout_pause(
    *, rollout: Rollout, actor: object, reason: str = "", now: datetime | None = None
) -> Rollout:
    """Stop deciding; the split stays as it is until resumed or aborted."""
    now = now or timezone.now()
    locked = _locked(rollout)
    if locked.state != RolloutState.RUNNING:
        raise Conflict(
            {"state": [f"Only a running rollout can be paused; this one is {locked.state}."]}
        )
    locked.state = RolloutState.PAUSED
    locked.save(update_fields=["state"])
    _record(
        locked,
        DecisionAction.PAUSE,
        f"Paused by {_by(actor)}. {reason}".strip(),
        now=now,
        actor=actor,
    )
    return locked


@transaction.atomic
def rollout_resume(
    *, rollout: Rollout, actor: object, reason: str = "", now: datetime | None = None
) -> Rollout:
    now = now or timezone.now()
    locked = _locked(rollout)
    if locked.state != RolloutState.PAUSED:
        raise Conflict(
            {"state": [f"Only a paused rollout can be resumed; this one is {locked.state}."]}
        )
    locked.state = RolloutState.RUNNING
    locked.save(update_fields=["state"])
    _record(
        locked,
        DecisionAction.RESUME,
        f"Resumed by {_by(actor)}. {reason}".strip(),
        now=now,
        actor=actor,
    )
    return locked


@transaction.atomic
def rollout_abort(
    *, rollout: Rollout, actor: object, reason: str = "", now: datetime | None = None
) -> Rollout:
    """Stop for good: the challenger goes back to 0% (still a member)."""
    now = now or timezone.now()
    locked = _locked(rollout)
    if not locked.is_active:
        raise Conflict(
            {"state": [f"The rollout has ended ({locked.state}): there is nothing to abort."]}
        )
    words = f"Aborted by {_by(actor)}. {reason}".strip()
    member = locked.group.memberships.filter(model_version=locked.challenger).first()
    pending = None
    if member is not None and member.weight > 0 and _outside_change(locked) is None:
        pending = _set_split(locked, 0, actor=actor, reason=words)
    if pending is not None:
        words += f" The challenger's 0% waits for an Approver: pending change #{pending.pk}."
    _record(locked, DecisionAction.ABORT, words, now=now, actor=actor)
    _end(locked, RolloutState.ABORTED, now)
    return locked
