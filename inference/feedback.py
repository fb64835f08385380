"""Ground truth for logged predictions: POST /api/v1/groups/<slug>/feedback.

Feedback sets `outcome` and `outcome_at` on the row a prediction was logged in (and on its
shadows' rows, which predicted the very same inputs, so shadow models can be scored too).
Nothing else on the row changes. A request_id the group never logged is reported back
per item, never an error for the others. Sending feedback again overwrites it (a
correction), with a new `outcome_at`. The hours of the changed rows are marked for the
hourly roll-ups (inference/rollup.py) in the same transaction.
"""

import math
import uuid
from collections.abc import Sequence
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
from registry.models import Flavor, ModelVersion, Task
from registry.predictors import PredictorUnavailable, predictor_for

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


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def known_classes(group: ModelGroup) -> list[Any] | None:
    """The classes the group's scikit-learn members know (their estimators' `classes_`,
    in order, each once); None when no member says (external models only)."""
    versions = ModelVersion.objects.filter(memberships__group=group, flavor=Flavor.SKLEARN)
    classes: list[Any] = []
    for version in versions.select_related("model").distinct().order_by("pk"):
        try:
            estimator = predictor_for(version).estimator
        except PredictorUnavailable:
            continue
        for label in getattr(estimator, "classes_", []):
            if _plain(label) not in classes:
                classes.append(_plain(label))
    return classes or None


def _known_class(outcome: Any, classes: Sequence[Any]) -> Any:
    """The class an outcome names: itself, or the one class whose text it is ("2" for 2)."""
    if any(outcome == c and type(outcome) is type(c) for c in classes):
        return outcome
    named = [c for c in classes if str(c) == str(outcome)]
    return named[0] if len(named) == 1 else None


def _number_error(outcome: Any) -> str | None:
    if isinstance(outcome, bool) or not isinstance(outcome, int | float):
        return f"A regression outcome is a number, not {outcome!r}."
    if not math.isfinite(outcome):
        return f"A regression outcome is a finite number, not {outcome!r}."
    return None


def _label_error(task: str, outcome: Any, classes: Sequence[Any] | None) -> str | None:
    if isinstance(outcome, dict | list):
        return "An outcome is a single label (a string, number or boolean)."
    if task == Task.MULTICLASS and classes and _known_class(outcome, classes) is None:
        known = ", ".join(repr(c) for c in classes)
        return f"{outcome!r} is not a class of this group's models; the known classes are {known}."
    return None


def outcome_error(task: str, outcome: Any, classes: Sequence[Any] | None = None) -> str | None:
    if outcome is None:
        return "An outcome is required (the true label)."
    if task == Task.BINARY:
        if isinstance(outcome, str) or outcome not in (0, 1):
            return f"A binary outcome is 0 or 1 (or false/true), not {outcome!r}."
        return None
    if task == Task.REGRESSION:
        return _number_error(outcome)
    return _label_error(task, outcome, classes)


def _stored(task: str, outcome: Any, classes: Sequence[Any] | None = None) -> Any:
    # Binary outcomes are stored as the label itself, 0 or 1, whatever the client sent;
    # a multiclass outcome as the class it names, so it compares equal to predictions.
    if task == Task.BINARY:
        return int(outcome)
    if task == Task.MULTICLASS and classes:
        return _known_class(outcome, classes)
    return outcome


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


def _outcome_errors(
    task: str, items: list[FeedbackItem], prefix: str, classes: Sequence[Any] | None
) -> None:
    errors: dict[str, list[str]] = {}
    for index, item in enumerate(items):
        problem = outcome_error(task, item.outcome, classes)
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
    classes: Sequence[Any] | None,
) -> None:
    now = timezone.now()
    by_outcome: dict[str, tuple[Any, list[uuid.UUID]]] = {}
    for item in items:
        stored = _stored(group.task, item.outcome, classes)
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


def _classes_to_check(group: ModelGroup) -> list[Any] | None:
    return known_classes(group) if group.task == Task.MULTICLASS else None


def _feedback_record(
    group: ModelGroup, items: list[FeedbackItem], prefix: str
) -> list[FeedbackResult]:
    classes = _classes_to_check(group)
    _outcome_errors(group.task, items, prefix, classes)
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
    known_items = [i for i in items if i.request_id in known]
    _outcomes_write(group, model, known_items, with_shadows, logged, classes)
    unknown = f"No prediction with this request_id was logged in {group.name}."
    return [_result(item.request_id, known, unknown) for item in items]


def _result(request_id: uuid.UUID, known: set[uuid.UUID], unknown: str) -> FeedbackResult:
    if request_id in known:
        return FeedbackResult(request_id, RECORDED)
    return FeedbackResult(request_id, UNKNOWN, unknown)
