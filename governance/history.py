"""Time travel on a group: who was champion and challenger, with which weights, and the
comparison as it stood, at any past moment.

Membership at a time is read from the audit trail: every change of a group goes through
groups' one audit function, which stores the full weights after it (`weights_after`), so
the latest change at or before the moment gives the members then. The comparison is the
evidence kept with the latest promotion, rollback, traffic change or approval at or
before the moment (groups.RoleChange.evidence)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from core.errors import ServiceError
from groups.models import ModelGroup, RoleChange
from groups.routing import by_role
from registry.models import ModelVersion


def moment_parse(raw: str | None) -> datetime:
    """An ISO time (a date alone means its end); naive times are UTC. Now when empty."""
    if not raw:
        return timezone.now()
    raw = raw.strip().replace(" ", "+") if "T" in raw else raw.strip()
    try:
        moment = parse_datetime(raw)
    except ValueError:
        moment = None
    if moment is None:
        day = _date(raw)
        if day is None:
            raise ServiceError({"at": [f"{raw!r} is not an ISO time (e.g. 2026-03-01T12:00Z)."]})
        moment = datetime.combine(day, datetime.min.time()) + timedelta(days=1, microseconds=-1)
    if timezone.is_naive(moment):
        return moment.replace(tzinfo=UTC)
    try:
        # In UTC: the database refuses offsets Python accepts (e.g. -19:26).
        return moment.astimezone(UTC)
    except OverflowError:
        raise ServiceError({"at": [f"{raw!r} is out of range."]}) from None


def _date(raw: str):
    try:
        return parse_date(raw)
    except ValueError:
        return None


def group_changes(group: ModelGroup):
    return group.role_changes.select_related(
        "actor", "approved_by", "api_key", "from_version__model", "to_version__model"
    ).order_by("-created_at", "-id")


def _labels(snapshots: list[list[dict[str, Any]]]) -> dict[int, ModelVersion]:
    ids = {row["model_version"] for snapshot in snapshots for row in snapshot}
    return {v.pk: v for v in ModelVersion.objects.filter(pk__in=ids).select_related("model")}


def members_rows(
    snapshot: list[dict[str, Any]], versions: dict[int, ModelVersion] | None = None
) -> list[dict[str, Any]]:
    """A weights snapshot as rows a person reads: champion first, then by weight."""
    versions = versions if versions is not None else _labels([snapshot])
    rows = []
    for row in snapshot:
        version = versions.get(row["model_version"])
        rows.append(
            {
                "model_version": row["model_version"],
                "model": version.model.name if version else None,
                "version": version.version if version else None,
                "role": row["role"],
                "weight": row["weight"],
            }
        )
    return by_role(rows)


def change_as_dict(change: RoleChange) -> dict[str, Any]:
    if change.actor_id:
        actor = change.actor.get_username()
    elif change.api_key_id:
        actor = f"API key {change.api_key}"
    else:
        actor = "system"
    return {
        "id": change.pk,
        "at": change.created_at.isoformat(),
        "action": change.action,
        "action_label": change.get_action_display(),
        "actor": actor,
        "approved_by": change.approved_by.get_username() if change.approved_by_id else None,
        "from_version": str(change.from_version) if change.from_version_id else None,
        "to_version": str(change.to_version) if change.to_version_id else None,
        "reason": change.reason,
        "rolled_back": change.rolled_back_by_id is not None,
    }


@dataclass
class GroupMoment:
    group: ModelGroup
    at: datetime
    change: RoleChange | None  # the latest change at or before `at`
    members: list[dict[str, Any]]
    evidence_change: RoleChange | None  # the latest change with evidence at or before `at`

    @property
    def comparison(self) -> dict[str, Any] | None:
        if self.evidence_change is None:
            return None
        return self.evidence_change.evidence.get("comparison")

    @property
    def comparison_note(self) -> str:
        if self.change is None:
            return "The group did not exist yet at this time."
        if self.evidence_change is None:
            return "No evidence was recorded at or before this time."
        evidence = self.evidence_change.evidence
        if not evidence.get("available", True):
            return evidence.get("message", "No comparison was available.")
        return (
            f"As recorded with the change of {self.evidence_change.created_at:%Y-%m-%d %H:%M:%S} "
            f"UTC ({self.evidence_change.get_action_display().lower()})."
        )

    def as_dict(self) -> dict[str, Any]:
        evidence = self.evidence_change
        return {
            "group": self.group.slug,
            "at": self.at.isoformat(),
            "existed": self.change is not None,
            "as_of_change": change_as_dict(self.change) if self.change else None,
            "members": self.members,
            "comparison": self.comparison,
            "comparison_recorded_at": evidence.evidence.get("recorded_at") if evidence else None,
            "comparison_change": change_as_dict(evidence) if evidence else None,
            "comparison_note": self.comparison_note,
        }


def group_at(group: ModelGroup, at: datetime) -> GroupMoment:
    """The group as it stood at `at` (see the module docstring)."""
    changes = group_changes(group).filter(created_at__lte=at)
    change = changes.first()
    evidence_change = None
    # Few changes per group: the nearest one that kept evidence, read newest first.
    for candidate in changes.iterator(chunk_size=100):
        if candidate.evidence:
            evidence_change = candidate
            break
    members = members_rows(change.weights_after) if change else []
    return GroupMoment(
        group=group, at=at, change=change, members=members, evidence_change=evidence_change
    )
