"""Browse a group's logged predictions: filters, keyset pagination and CSV export.

One filter definition serves the page, the API and the export. Pagination is by keyset
on (created_at, id), newest first: a cursor names the last row seen, so rows arriving
while someone pages never shift or repeat what they see.
"""

import base64
import math
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Model, Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from groups.models import ModelGroup, Role
from inference.aggregates import NEGATIVE_OUTCOME, POSITIVE_OUTCOME
from inference.comparison import WINDOWS
from inference.csv_stream import csv_stream
from inference.tables import inference_log_model

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
_CONDITION = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]{0,62})\s*(>=|<=|!=|==|=|>|<)\s*(.+?)\s*$")
_LOOKUPS = {">": "gt", ">=": "gte", "<": "lt", "<=": "lte", "=": "exact", "==": "exact", "!=": "exact"}


class FilterError(ValueError):
    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class InputCondition:
    feature: str
    operator: str
    value: float | str | bool

    def __str__(self) -> str:
        return f"{self.feature} {self.operator} {self.value}"

    def q(self) -> Q:
        # A JSON key lookup: the key and the value travel as query parameters.
        lookup = Q(**{f"inputs__{self.feature}__{_LOOKUPS[self.operator]}": self.value})
        return ~lookup if self.operator == "!=" else lookup


@dataclass(frozen=True)
class InferenceFilters:
    window: str = "all"
    since: datetime | None = None
    until: datetime | None = None
    role: str = ""
    version: int | None = None
    score_min: float | None = None
    score_max: float | None = None
    has_outcome: bool | None = None
    outcome: int | None = None
    q: str = ""
    condition: InputCondition | None = None
    raw: dict[str, str] = field(default_factory=dict)

    def apply(self, rows: QuerySet, now: datetime | None = None) -> QuerySet:
        span = WINDOWS.get(self.window)
        if span is not None:
            rows = rows.filter(created_at__gte=(now or timezone.now()) - span)
        if self.since:
            rows = rows.filter(created_at__gte=self.since)
        if self.until:
            rows = rows.filter(created_at__lte=self.until)
        if self.role:
            rows = rows.filter(role=self.role)
        if self.version is not None:
            rows = rows.filter(model_version_id=self.version)
        if self.score_min is not None:
            rows = rows.filter(score__gte=self.score_min)
        if self.score_max is not None:
            rows = rows.filter(score__lte=self.score_max)
        if self.has_outcome is not None:
            rows = rows.filter(outcome__isnull=not self.has_outcome)
        if self.outcome is not None:
            rows = rows.filter(POSITIVE_OUTCOME if self.outcome == 1 else NEGATIVE_OUTCOME)
        if self.q:
            rows = rows.filter(_id_or_key(self.q))
        if self.condition is not None:
            rows = rows.filter(self.condition.q())
        return rows

    @property
    def active(self) -> bool:
        return any(v for k, v in self.raw.items() if k not in ("window", "cursor"))


def _id_or_key(text: str) -> Q:
    try:
        return Q(request_id=uuid.UUID(text)) | Q(routing_key=text)
    except ValueError:
        return Q(routing_key=text)


def parse_condition(text: str, *, features: list[str] | None = None) -> InputCondition:
    """`income > 50000` -> InputCondition("income", ">", 50000.0); refuses anything else."""
    match = _CONDITION.match(text)
    if not match:
        raise FilterError({"input": ["Write one condition such as income > 50000 (operators: > >= < <= = !=)."]})
    feature, operator, raw_value = match.groups()
    if features and feature not in features:
        raise FilterError({"input": [f"Unknown feature {feature!r}: use one of {', '.join(features)}."]})
    value: float | str | bool
    if raw_value.lower() in ("true", "false"):
        value = raw_value.lower() == "true"
    elif len(raw_value) >= 2 and raw_value[0] == raw_value[-1] and raw_value[0] in "'\"":
        value = raw_value[1:-1]
    else:
        try:
            value = float(raw_value)
        except ValueError:
            value = raw_value
    if isinstance(value, str) and operator not in ("=", "==", "!="):
        raise FilterError({"input": [f"{operator} needs a number, got {raw_value!r}."]})
    return InputCondition(feature, operator, value)


def _number(raw: dict[str, str], name: str, errors: dict[str, list[str]], *, low: float | None = None,
            high: float | None = None) -> float | None:
    text = raw.get(name, "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        errors[name] = [f"{text!r} is not a number."]
        return None
    if (low is not None and value < low) or (high is not None and value > high):
        errors[name] = [f"Must be between {low} and {high}."]
        return None
    return value


def _moment(raw: dict[str, str], name: str, errors: dict[str, list[str]]) -> datetime | None:
    text = raw.get(name, "").strip()
    if not text:
        return None
    moment = parse_datetime(text)
    if moment is None:
        errors[name] = [f"{text!r} is not a date and time (YYYY-MM-DDTHH:MM)."]
        return None
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment


def parse_filters(params: Any, *, group: ModelGroup) -> InferenceFilters:
    """From a QueryDict (page, API, export); every bad value is named in FilterError."""
    raw = {k: str(params.get(k, "")).strip() for k in (
        "window", "since", "until", "role", "version", "score_min", "score_max",
        "has_outcome", "outcome", "q", "input",
    )}
    errors: dict[str, list[str]] = {}
    window = raw["window"] or "all"
    if window not in WINDOWS:
        errors["window"] = [f"Use one of {', '.join(WINDOWS)}."]
    if raw["role"] and raw["role"] not in Role.values:
        errors["role"] = [f"Use one of {', '.join(Role.values)}."]
    version = None
    if raw["version"]:
        if raw["version"].isdigit():
            version = int(raw["version"])
        else:
            errors["version"] = ["A model version id (a number)."]
    has_outcome = {"": None, "yes": True, "true": True, "1": True, "no": False, "false": False, "0": False}.get(
        raw["has_outcome"].lower(), "bad"
    )
    if has_outcome == "bad":
        errors["has_outcome"] = ["Use yes or no."]
        has_outcome = None
    outcome = None
    if raw["outcome"]:
        if raw["outcome"] in ("0", "1"):
            outcome = int(raw["outcome"])
        else:
            errors["outcome"] = ["Use 0 or 1."]
    condition = None
    if raw["input"]:
        try:
            condition = parse_condition(raw["input"], features=list(group.features or []))
        except FilterError as exc:
            errors.update(exc.errors)
    filters = InferenceFilters(
        window=window if window in WINDOWS else "all",
        since=_moment(raw, "since", errors),
        until=_moment(raw, "until", errors),
        role=raw["role"] if raw["role"] in Role.values else "",
        version=version,
        score_min=_number(raw, "score_min", errors, low=0, high=1),
        score_max=_number(raw, "score_max", errors, low=0, high=1),
        has_outcome=has_outcome,
        outcome=outcome,
        q=raw["q"][:200],
        condition=condition,
        raw={k: v for k, v in raw.items() if v},
    )
    if errors:
        raise FilterError(errors)
    return filters


def encode_cursor(created_at: datetime, row_id: int) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{row_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, row_id = text.split("|")
        parsed = parse_datetime(moment)
        if parsed is None:
            raise ValueError(moment)
        return parsed, int(row_id)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FilterError({"cursor": ["Invalid cursor: start again from the first page."]}) from exc


@dataclass
class InferencePage:
    rows: list[Model]
    next_cursor: str | None
    filters: InferenceFilters


def inference_rows(group: ModelGroup) -> QuerySet:
    return inference_log_model(group.table_name).objects.all()


def inference_page(
    *, group: ModelGroup, filters: InferenceFilters, cursor: str | None = None, size: int = PAGE_SIZE
) -> InferencePage:
    size = max(1, min(size, MAX_PAGE_SIZE))
    rows = filters.apply(inference_rows(group)).order_by("-created_at", "-id")
    if cursor:
        created_at, row_id = decode_cursor(cursor)
        rows = rows.filter(Q(created_at__lt=created_at) | Q(created_at=created_at, id__lt=row_id))
    page = list(rows[: size + 1])
    more = len(page) > size
    page = page[:size]
    next_cursor = encode_cursor(page[-1].created_at, page[-1].id) if more else None
    return InferencePage(rows=page, next_cursor=next_cursor, filters=filters)


def inference_detail(*, group: ModelGroup, request_id: str) -> Model | None:
    try:
        key = uuid.UUID(str(request_id))
    except ValueError:
        return None
    return inference_rows(group).filter(request_id=key).first()


def waterfall(row: Model, *, limit: int = 12) -> dict[str, Any] | None:
    """The SHAP waterfall: base value, each feature's push (largest first, the smallest
    folded into "other features"), and the output, as floating bars for Chart.js."""
    values: dict[str, float] = {k: float(v) for k, v in (row.explanation or {}).items() if v is not None}
    if not values or row.base_value is None:
        return None
    ordered = sorted(values.items(), key=lambda kv: abs(kv[1]), reverse=True)
    if len(ordered) > limit:
        rest = sum(v for _, v in ordered[limit - 1 :])
        ordered = [*ordered[: limit - 1], (f"{len(values) - limit + 1} other features", rest)]
    inputs = row.inputs or {}
    labels, bars, colours = ["base value"], [[0, row.base_value]], ["#98a2b3"]
    running = row.base_value
    steps = []
    for name, push in ordered:
        start, running = running, running + push
        shown = f"{name} = {inputs[name]}" if name in inputs else name
        labels.append(shown)
        bars.append([round(start, 9), round(running, 9)])
        colours.append("#b42318" if push > 0 else "#2f5bea")
        steps.append({"feature": name, "value": inputs.get(name), "push": push, "after": running})
    units = _units(running, row.score)
    labels.append("output")
    bars.append([0, round(running, 9)])
    colours.append("#111827")
    return {
        "output": running,
        "units": units,
        "steps": steps,
        "height_px": max(260, 40 + 30 * len(labels)),
        "config": {
            "type": "bar",
            "data": {"labels": labels, "datasets": [{"label": "SHAP", "data": bars, "backgroundColor": colours}]},
            "options": {
                "indexAxis": "y",
                "plugins": {"legend": {"display": False}},
                "scales": {"x": {"title": {"display": True, "text": f"model output ({units})"}}},
            },
        },
    }


def _units(output: float, score: float | None) -> str:
    """The row does not record the explainer's units; the score tells them apart."""
    if score is not None:
        if abs(output - score) < 1e-3:
            return "probability"
        if -700 < output < 700 and abs(1 / (1 + math.exp(-output)) - score) < 1e-3:
            return "log-odds"
    return "the explainer's units"


CSV_FIXED = [
    "created_at", "request_id", "model_version_id", "role", "routing_key", "prediction", "score",
    "outcome", "outcome_at", "latency_ms", "fallback", "error",
]


def csv_lines(*, group: ModelGroup, filters: InferenceFilters, chunk_size: int = 2000) -> Iterator[str]:
    """The filtered rows as CSV lines, newest first, streamed from a server-side cursor
    (inputs flattened one column per group feature; anything else stays in `inputs`)."""
    features = list(group.features or [])
    rows = filters.apply(inference_rows(group)).order_by("-created_at", "-id")

    def flattened() -> Iterator[list[Any]]:
        for row in rows.iterator(chunk_size=chunk_size):
            inputs = dict(row.inputs or {})
            flat = [inputs.pop(feature, None) for feature in features]
            yield [getattr(row, c) for c in CSV_FIXED] + flat + [inputs or None]

    return csv_stream([*CSV_FIXED, *features, "other_inputs"], flattened())


def csv_filename(group: ModelGroup, now: datetime | None = None) -> str:
    return f"{group.slug}-inferences-{(now or timezone.now()):%Y%m%d-%H%M%S}.csv"

