"""What the Monitoring tab shows, per member: the drift heatmap (feature x window), the
latest drift table with each method named, SHAP-share shift, quality / health /
performance series (charts contract: data only), open alerts."""

from __future__ import annotations

from dataclasses import dataclass, field

from groups.models import Membership, ModelGroup
from monitoring import drift
from monitoring.models import Alert, AlertStatus, Period, Reference, Snapshot
from monitoring.snapshots import members

HEATMAP_WINDOWS = 14


@dataclass
class MemberPanel:
    membership: Membership
    reference: Reference | None
    latest: Snapshot | None
    windows: list[str] = field(default_factory=list)
    heatmap: list[dict] = field(default_factory=list)
    features: list[dict] = field(default_factory=list)
    charts: list[dict] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)


def _cell(feature: dict | None) -> dict:
    if feature is None:
        return {"css": "drift-none", "text": "–", "title": "not measured"}
    p_value = feature.get("p_value")
    shown = f"p={p_value:.3g}" if p_value is not None else f"{feature['statistic']:.3g}"
    return {
        "css": "drift-yes" if feature["drifted"] else "drift-no",
        "text": shown,
        "title": f"{feature['method']}: statistic {feature['statistic']:.4g}"
        + (f", p-value {p_value:.3g}" if p_value is not None else "")
        + f", threshold {feature['threshold']:g}",
    }


def heatmap(history: list[Snapshot], names: list[str]) -> tuple[list[str], list[dict]]:
    """Rows: features; columns: windows, oldest first."""
    columns = [s.window_end.strftime("%m-%d %H:%M") for s in history]
    by_window = [{f["name"]: f for f in (s.drift or {}).get("features", [])} for s in history]
    rows = [
        {"name": name, "cells": [_cell(found.get(name)) for found in by_window]} for name in names
    ]
    return columns, rows


def feature_rows(snapshot: Snapshot | None) -> list[dict]:
    block = (snapshot.drift if snapshot else None) or {}
    shift = block.get("shap_shift") or {}
    rows = []
    for feature in block.get("features", []):
        rows.append(
            {
                **feature,
                "method_name": drift.METHOD_NAMES.get(feature["method"], feature["method"]),
                "shift": shift.get(feature["name"]) or {},
            }
        )
    return sorted(rows, key=lambda r: -(r.get("shap_share") or 0))


def _series(history: list[Snapshot], section: str, key: str) -> list[float | None]:
    return [(getattr(s, section) or {}).get(key) for s in history]


def _timeseries(
    title: str, y_title: str, labels: list[str], datasets: list[tuple[str, list]]
) -> dict:
    return {
        "kind": "timeseries",
        "title": title,
        "x_title": "window end (UTC)",
        "y_title": y_title,
        "labels": labels,
        "datasets": [{"label": label, "data": data} for label, data in datasets],
    }


def _shap_chart(latest: Snapshot | None) -> dict | None:
    shift = ((latest.drift if latest else None) or {}).get("shap_shift") or {}
    if not shift:
        return None
    names = sorted(shift, key=lambda n: -shift[n]["current"])
    return {
        "kind": "bars",
        "title": "SHAP share: now vs reference period",
        "x_title": "feature",
        "y_title": "share of mean |SHAP|",
        "labels": names,
        "datasets": [
            {
                "label": "this window",
                "data": [shift[n]["current"] for n in names],
                "role": "challenger",
            },
            {
                "label": "reference period",
                "data": [shift[n]["reference"] for n in names],
                "role": "reference",
            },
        ],
    }


def _measured(
    history: list[Snapshot], section: str, keys: tuple[str, ...]
) -> list[tuple[str, list]]:
    found = [(key, _series(history, section, key)) for key in keys]
    return [(key, data) for key, data in found if any(v is not None for v in data)]


def member_charts(history: list[Snapshot], latest: Snapshot | None) -> list[dict]:
    labels = [s.window_end.strftime("%m-%d %H:%M") for s in history]
    charts = [
        _timeseries(
            "Data quality (worst feature)",
            "share of rows",
            labels,
            _measured(history, "quality", ("missing_rate", "out_of_range_rate")),
        ),
        _timeseries(
            "Latency",
            "ms",
            labels,
            _measured(history, "health", ("p50_latency_ms", "p95_latency_ms", "p99_latency_ms")),
        ),
        _timeseries(
            "Errors and fallbacks",
            "share of requests",
            labels,
            _measured(history, "health", ("error_rate", "fallback_rate")),
        ),
        _timeseries(
            "Performance from feedback",
            "metric",
            labels,
            _measured(history, "performance", ("auc_roc", "accuracy", "mae", "rmse")),
        ),
        _shap_chart(latest),
    ]
    return [c for c in charts if c is not None and c["datasets"]]


def member_panel(group: ModelGroup, membership: Membership, period: str) -> MemberPanel:
    version = membership.model_version
    history = list(
        Snapshot.objects.filter(group=group, model_version=version, period=period).order_by(
            "-window_end"
        )[:HEATMAP_WINDOWS]
    )[::-1]
    latest = history[-1] if history else None
    reference = (
        Reference.objects.filter(model_version=version)
        .only("id", "rows", "features", "source", "description", "created_at", "model_version")
        .first()
    )
    names = reference.features if reference else []
    columns, rows = heatmap(history, names)
    panel = MemberPanel(membership, reference, latest, columns, rows, feature_rows(latest))
    panel.charts = [
        {"id": f"monitoring-{version.pk}-{i}", "chart": chart}
        for i, chart in enumerate(member_charts(history, latest))
    ]
    panel.alerts = list(
        Alert.objects.filter(group=group, model_version=version).exclude(
            status=AlertStatus.RESOLVED
        )
    )
    return panel


def group_panels(group: ModelGroup, period: str = Period.DAY) -> list[MemberPanel]:
    return [member_panel(group, m, period) for m in members(group)]


def method_legend() -> list[tuple[str, str]]:
    return list(drift.METHOD_NAMES.items())
