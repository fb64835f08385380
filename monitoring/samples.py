"""Bounded reads of a member's rows in a window of its group's inference table.

Never the whole table: a count first (the (model_version_id, created_at) index), then a
systematic sample (every k-th id) of at most `limit` rows, only the columns asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import F, Model, QuerySet

from inference import tables


@dataclass
class WindowSample:
    total: int  # rows of the member in the window
    rows: list[dict]  # at most `limit` of them, spread evenly over the window


def member_rows(table_name: str, version_id: int, start: datetime, end: datetime) -> QuerySet:
    log: type[Model] = tables.inference_log_model(table_name)
    return log.objects.filter(
        model_version_id=version_id, created_at__gte=start, created_at__lt=end
    )


def window_sample(
    table_name: str,
    version_id: int,
    start: datetime,
    end: datetime,
    *,
    limit: int,
    fields: tuple[str, ...] = ("inputs", "score", "prediction", "explanation", "latency_ms"),
    total: int | None = None,
) -> WindowSample:
    rows = member_rows(table_name, version_id, start, end)
    if total is None:
        total = rows.count()
    if total > limit:
        stride = -(-total // limit)  # ceil: at most `limit` rows
        rows = rows.annotate(_k=F("id") % stride).filter(_k=0)
    picked = list(rows.order_by().values(*fields)[:limit])
    return WindowSample(total=total, rows=picked)
