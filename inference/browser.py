"""Browse a group's logged predictions: cursor pagination, one prediction's SHAP
waterfall, and the CSV export. The filters are inference/filters.py's FilterSet.

Pagination is DRF's cursor pagination on (created_at, id), newest first: a cursor names
the position of the last row seen, so rows arriving while someone pages never shift or
repeat what they see. The page and the API page alike.
"""

import math
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from rest_framework.exceptions import NotFound
from rest_framework.request import Request

from core.api import LogCursorPagination
from core.errors import ServiceError
from groups.models import ModelGroup
from inference.csv_stream import csv_stream
from inference.filters import InferenceFilterSet
from inference.tables import inference_log_model

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


class InferenceCursorPagination(LogCursorPagination):
    """Newest first; a bad cursor or page size is a 400 naming it (DRF says 404 or
    silently falls back)."""

    page_size = PAGE_SIZE
    max_page_size = MAX_PAGE_SIZE

    def decode_cursor(self, request: Request) -> Any:
        try:
            return super().decode_cursor(request)
        except NotFound as exc:
            raise ServiceError(
                {"cursor": ["Invalid cursor: start again from the first page."]}
            ) from exc

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param, "")
        if not raw:
            return self.page_size
        if not raw.isdigit() or not 1 <= int(raw) <= self.max_page_size:
            raise ServiceError(
                {self.page_size_query_param: [f"A number from 1 to {self.max_page_size}."]}
            )
        return int(raw)


@dataclass
class InferencePage:
    rows: list[Model]
    next_url: str | None
    newest_url: str | None  # the first page with the same filters, when this is not it


def inference_rows(group: ModelGroup) -> QuerySet:
    # Live and batch rows: InferenceFilterSet's `source` picks (live by default).
    return inference_log_model(group.table_name).all_rows.all()


def filtered_rows(group: ModelGroup, params: Any) -> QuerySet:
    """The group's log filtered by `params` (a QueryDict), or a 400 naming each bad one."""
    filterset = InferenceFilterSet(
        params, queryset=inference_rows(group), features=list(group.features or [])
    )
    return filterset.filtered()


def inference_page(request: HttpRequest, rows: QuerySet) -> InferencePage:
    paginator = InferenceCursorPagination()
    drf_request = request if isinstance(request, Request) else Request(request)
    page = paginator.paginate_queryset(rows, drf_request) or []
    newest = None
    if request.GET.get(paginator.cursor_query_param):
        query = request.GET.copy()
        query.pop(paginator.cursor_query_param)
        newest = f"?{query.urlencode()}"
    return InferencePage(rows=list(page), next_url=paginator.get_next_link(), newest_url=newest)


def inference_detail(*, group: ModelGroup, request_id: str) -> Model | None:
    try:
        key = uuid.UUID(str(request_id))
    except ValueError:
        return None
    return inference_rows(group).filter(request_id=key).first()


def _folded(values: dict[str, float], limit: int) -> list[tuple[str, float]]:
    """Largest pushes first; past `limit`, the smallest folded into "n other features"."""
    ordered = sorted(values.items(), key=lambda kv: abs(kv[1]), reverse=True)
    if len(ordered) > limit:
        rest = sum(v for _, v in ordered[limit - 1 :])
        ordered = [*ordered[: limit - 1], (f"{len(values) - limit + 1} other features", rest)]
    return ordered


def waterfall(row: Model, *, limit: int = 12) -> dict[str, Any] | None:
    """The SHAP waterfall: base value, each feature's push (largest first), and the output:
    the steps for the table, and a chart (the charts contract, kind "bars")."""
    values = {k: float(v) for k, v in (row.explanation or {}).items() if v is not None}
    if not values or row.base_value is None:
        return None
    inputs = row.inputs or {}
    running, steps = row.base_value, []
    for name, push in _folded(values, limit):
        running += push
        steps.append({"feature": name, "value": inputs.get(name), "push": push, "after": running})
    units = _units(running, row.score)
    return {
        "output": running,
        "units": units,
        "steps": steps,
        "chart": _waterfall_chart(row, steps, units),
    }


def _step_label(step: dict[str, Any], inputs: dict[str, Any]) -> str:
    return f"{step['feature']} = {step['value']}" if step["feature"] in inputs else step["feature"]


def _waterfall_chart(row: Model, steps: list[dict[str, Any]], units: str) -> dict[str, Any]:
    inputs = row.inputs or {}
    pushes = [s["push"] for s in steps]
    blank = [None] * len(steps)
    return {
        "kind": "bars",
        "title": "SHAP waterfall",
        "x_title": "",
        "y_title": f"push on the model output ({units})",
        "labels": ["base value", *(_step_label(s, inputs) for s in steps), "output"],
        "datasets": [
            {
                "label": "base value and output",
                "role": "reference",
                "data": [row.base_value, *blank, steps[-1]["after"]],
            },
            {
                "label": "pushes the output up",
                "role": "positive",
                "data": [None, *(p if p > 0 else None for p in pushes), None],
            },
            {
                "label": "pushes the output down",
                "role": "negative",
                "data": [None, *(p if p <= 0 else None for p in pushes), None],
            },
        ],
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
    "created_at",
    "request_id",
    "model_version_id",
    "role",
    "routing_key",
    "prediction",
    "score",
    "outcome",
    "outcome_at",
    "latency_ms",
    "fallback",
    "error",
]


def csv_lines(*, group: ModelGroup, rows: QuerySet, chunk_size: int = 2000) -> Iterator[str]:
    """The (filtered) rows as CSV lines, newest first, streamed from a server-side cursor
    (inputs flattened one column per group feature; anything else stays in `inputs`)."""
    features = list(group.features or [])
    rows = rows.order_by("-created_at", "-id")

    def flattened() -> Iterator[list[Any]]:
        for row in rows.iterator(chunk_size=chunk_size):
            inputs = dict(row.inputs or {})
            flat = [inputs.pop(feature, None) for feature in features]
            yield [getattr(row, c) for c in CSV_FIXED] + flat + [inputs or None]

    return csv_stream([*CSV_FIXED, *features, "other_inputs"], flattened())


def csv_filename(group: ModelGroup, now: datetime | None = None) -> str:
    return f"{group.slug}-inferences-{(now or timezone.now()):%Y%m%d-%H%M%S}.csv"
