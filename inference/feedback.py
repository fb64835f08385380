"""Ground truth for logged predictions: POST /api/v1/groups/<slug>/feedback.

Feedback sets `outcome` and `outcome_at` on the row a prediction was logged in (and on its
shadows' rows, which predicted the very same inputs, so shadow models can be scored too).
Nothing else on the row changes. A request_id the group never logged is reported back
per item, never an error for the others. Sending feedback again overwrites it (a
correction), with a new `outcome_at`. The hours of the changed rows are marked for the
hourly roll-ups (inference/rollup.py) in the same transaction.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Model
from django.utils import timezone

from core.errors import NotFound, ServiceError
from groups.models import Membership, ModelGroup, Role
from inference import tables
from inference.rollup import rollup_mark_written
from inference.serving import database_reachable, shadow_request_id
from registry.models import Task

RECORDED = "recorded"
UNKNOWN = "unknown"


class FeedbackError(ServiceError):
    """Bad feedback: `errors` names each field; nothing was recorded."""


@dataclass(frozen=True)
class FeedbackItem:
    request_id: uuid.UUID
    outcome: Any


@dataclass(frozen=True)
class FeedbackResult:
    request_id: uuid.UUID
    status: str  # recorded | unknown
    message: str = ""


def outcome_error(task: str, outcome: Any) -> str | None:
    if outcome is None:
        return "An outcome is required (the true label)."
    if task == Task.BINARY:
        if isinstance(outcome, str) or outcome not in (0, 1):
            return f"A binary outcome is 0 or 1 (or false/true), not {outcome!r}."
        return None
    if task == Task.REGRESSION:
        if isinstance(outcome, bool) or not isinstance(outcome, int | float):
            return f"A regression outcome is a number, not {outcome!r}."
        return None
    if isinstance(outcome, dict | list):
        return "An outcome is a single label (a string, number or boolean)."
    return None


def _stored(task: str, outcome: Any) -> Any:
    # Binary outcomes are stored as the label itself, 0 or 1, whatever the client sent.
    return int(outcome) if task == Task.BINARY else outcome


def feedback_record(
    *, group: ModelGroup, items: list[FeedbackItem], prefix: str = "items"
) -> list[FeedbackResult]:
    """Record outcomes for logged predictions; one result per item, in order."""
    with database_reachable(), transaction.atomic():
        return _feedback_record(group, items, prefix)


def feedback_record_one(*, group: ModelGroup, item: FeedbackItem) -> FeedbackResult:
    """One outcome; a request_id the group never logged is a 404 naming it."""
    [result] = feedback_record(group=group, items=[item], prefix="")
    if result.status != RECORDED:
        raise NotFound(result.message, {"request_id": [result.message]})
    return result


def _outcome_errors(task: str, items: list[FeedbackItem], prefix: str) -> None:
    errors: dict[str, list[str]] = {}
    for index, item in enumerate(items):
        problem = outcome_error(task, item.outcome)
        if problem:
            errors[f"{prefix}[{index}].outcome" if prefix else "outcome"] = [problem]
    if errors:
        raise FeedbackError(
            "Invalid feedback: " + " ".join(m for ms in errors.values() for m in ms), errors
        )


def _logged(
    model: type[Model], request_ids: list[uuid.UUID]
) -> dict[uuid.UUID, tuple[str, datetime]]:
    rows = model.objects.filter(request_id__in=request_ids).values_list(
        "request_id", "role", "created_at"
    )
    return {request_id: (role, created_at) for request_id, role, created_at in rows}


def _outcomes_write(
    group: ModelGroup,
    model: type[Model],
    items: list[FeedbackItem],
    with_shadows: dict[uuid.UUID, list[uuid.UUID]],
    logged: dict[uuid.UUID, tuple[str, datetime]],
) -> None:
    now = timezone.now()
    by_outcome: dict[str, tuple[Any, list[uuid.UUID]]] = {}
    for item in items:
        stored = _stored(group.task, item.outcome)
        by_outcome.setdefault(repr(stored), (stored, []))[1].extend(with_shadows[item.request_id])
    # One UPDATE per distinct outcome (two for a binary model), whatever the batch size.
    for stored, request_ids in by_outcome.values():
        model.objects.filter(request_id__in=request_ids).update(outcome=stored, outcome_at=now)
    # In this transaction: the hours already rolled up are read raw until rolled up again.
    rollup_mark_written(
        group.pk,
        (logged[i][1] for _, ids in by_outcome.values() for i in ids if i in logged),
    )


def _with_shadows(request_id: uuid.UUID, member_versions: list[int]) -> list[uuid.UUID]:
    return [request_id, *(shadow_request_id(request_id, v) for v in member_versions)]


def _feedback_record(
    group: ModelGroup, items: list[FeedbackItem], prefix: str
) -> list[FeedbackResult]:
    _outcome_errors(group.task, items, prefix)
    model = tables.inference_log_model(group.table_name)
    member_versions = list(
        Membership.objects.filter(group=group).values_list("model_version_id", flat=True)
    )
    # Each request's row and its shadows' rows, read once: which ids are known, and the
    # times of the rows about to change (a shadow's row may fall in the next hour).
    with_shadows = {
        item.request_id: _with_shadows(item.request_id, member_versions) for item in items
    }
    logged = _logged(model, [i for ids in with_shadows.values() for i in ids])
    known = {i for i in with_shadows if i in logged and logged[i][0] != Role.SHADOW}
    _outcomes_write(group, model, [i for i in items if i.request_id in known], with_shadows, logged)
    unknown = f"No prediction with this request_id was logged in {group.name}."
    return [_result(item.request_id, known, unknown) for item in items]


def _result(request_id: uuid.UUID, known: set[uuid.UUID], unknown: str) -> FeedbackResult:
    if request_id in known:
        return FeedbackResult(request_id, RECORDED)
    return FeedbackResult(request_id, UNKNOWN, unknown)
