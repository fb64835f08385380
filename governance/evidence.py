"""The evidence a group change keeps: the comparison as it stood just before the change
(every member's numbers with their intervals, every challenger's test against the
champion) and the group's open alerts. Called by groups' audit function through
settings.HUB_EVIDENCE_PROVIDER (groups cannot import the layers that compute it)."""

from __future__ import annotations

import json
import math
from typing import Any

from django.utils import timezone

from groups.models import ModelGroup
from inference.comparison import DEFAULT_WINDOW, group_comparison
from monitoring.models import Alert, AlertStatus


def _plain(value: Any) -> Any:
    """JSON-safe: numpy numbers as Python ones, NaN and infinities as null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item"):  # numpy scalars
        return _plain(value.item())
    return value


def open_alerts(group: ModelGroup) -> list[dict[str, Any]]:
    alerts = Alert.objects.filter(group=group).exclude(status=AlertStatus.RESOLVED)
    return [
        {
            "id": a.pk,
            "title": a.title,
            "severity": a.severity,
            "status": a.status,
            "model_version": a.model_version_id,
            "opened_at": a.opened_at.isoformat(),
        }
        for a in alerts.order_by("-opened_at")[:20]
    ]


def group_evidence(group: ModelGroup) -> dict[str, Any]:
    """The comparison of `group` over the default window, computed now (no cache)."""
    recorded_at = timezone.now()
    if not group.table_name:
        return {
            "available": False,
            "recorded_at": recorded_at.isoformat(),
            "message": "The group has no inference table: nothing to compare.",
        }
    comparison = group_comparison(
        group=group, window=DEFAULT_WINDOW, with_series=False, use_cache=False
    )
    body = {
        "available": True,
        "recorded_at": recorded_at.isoformat(),
        "comparison": comparison.as_dict(),
        "open_alerts": open_alerts(group),
    }
    # A round trip through JSON: what is stored is exactly what is read back later.
    return json.loads(json.dumps(_plain(body)))
