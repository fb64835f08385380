"""The validation report of one version: what a model-risk reviewer reads, as one
printable page and a PDF (WeasyPrint; the charts drawn server-side as SVG, governance/svg.py).

Sections: the model's inventory fields; data reference and training lineage; validation
metrics with 95% intervals and the task's charts; global SHAP importance; for each group it
serves, the live comparison and the monitoring summary; recipe evaluation results against
thresholds (when the version records them); and every approval and decision with the
evidence it was based on."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from math import sqrt
from typing import Any

from django.contrib.staticfiles import finders
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import mark_safe

from governance.evidence import open_alerts
from governance.history import change_as_dict, members_rows
from governance.presentation import evidence_members, interval, number
from governance.svg import chart_svg
from groups.models import ModelGroup, PendingChange, PendingStatus, RoleChange
from inference.analytics import wilson_interval
from inference.comparison import group_comparison
from inference.tables import inference_log_model
from monitoring.models import Period, Reference, Snapshot
from registry.charts import version_charts
from registry.models import ModelVersion
from rollouts.models import RolloutDecision
from training.models import FineTuneJob, JobStatus

Z_95 = 1.959964
# Metrics that are a share of the hold-out rows (a Wilson interval on n_test).
RATE_METRICS = ("accuracy", "positive_rate")
MAX_LINEAGE = 20


def auc_interval(auc: float, positives: int, negatives: int) -> tuple[float, float] | None:
    """Hanley & McNeil's (1982) 95% interval for an AUC from its class counts (the hold-out
    keeps no scores, so DeLong's, which the live comparison uses, cannot be computed)."""
    if positives <= 0 or negatives <= 0:
        return None
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    variance = (
        auc * (1 - auc) + (positives - 1) * (q1 - auc * auc) + (negatives - 1) * (q2 - auc * auc)
    ) / (positives * negatives)
    half = Z_95 * sqrt(max(variance, 0.0))
    return max(0.0, auc - half), min(1.0, auc + half)


def _metric_interval(key: str, value: Any, metrics: dict[str, Any]) -> str:
    n = metrics.get("n_test")
    if not isinstance(value, int | float) or not isinstance(n, int | float) or n <= 0:
        return ""
    if key in RATE_METRICS:
        ci = wilson_interval(round(value * n), int(n))
        return interval([ci.low, ci.high]) if ci else ""
    if key == "auc_roc" and isinstance(metrics.get("positive_rate"), int | float):
        positives = round(metrics["positive_rate"] * n)
        ci = auc_interval(float(value), positives, int(n) - positives)
        return interval(list(ci)) if ci else ""
    return ""


def validation_metrics(metadata: dict[str, Any]) -> list[dict[str, str]]:
    metrics = metadata.get("metrics") or {}
    return [
        {"key": key, "value": number(value, 4), "ci95": _metric_interval(key, value, metrics)}
        for key, value in metrics.items()
        if not isinstance(value, dict | list)
    ]


def lineage(version: ModelVersion) -> list[dict[str, str]]:
    """The version, its parent, its parent's parent...: what each was made from."""
    out, seen, current = [], set(), version
    while current is not None and current.pk not in seen and len(out) < MAX_LINEAGE:
        seen.add(current.pk)
        out.append(
            {
                "version": str(current),
                "source": current.get_source_display(),
                "source_ref": current.source_ref,
                "created_at": f"{current.created_at:%Y-%m-%d %H:%M} UTC",
                "created_by": current.created_by.get_username() if current.created_by else "",
            }
        )
        current = current.parent
    return out


def _plain_items(block: dict[str, Any] | None, skip: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    return [
        (key, number(value) if not isinstance(value, str) else value)
        for key, value in (block or {}).items()
        if key not in skip and not isinstance(value, dict | list)
    ]


def reference_summary(metadata: dict[str, Any]) -> dict[str, Any]:
    reference = metadata.get("reference") or {}
    features = []
    for name, stats in (reference.get("features") or {}).items():
        features.append(
            {
                "name": name,
                "mean": number(stats.get("mean")),
                "std": number(stats.get("std")),
                "min": number(stats.get("min")),
                "max": number(stats.get("max")),
            }
        )
    return {"rows": number(reference.get("rows")), "features": features}


def charts(version: ModelVersion) -> list[dict[str, Any]]:
    out = []
    entries = version_charts(version.metadata.get("charts") or {}, label=str(version))
    for entry in entries:
        out.append(
            {
                "title": entry["title"],
                "note": entry.get("note", ""),
                "svg": mark_safe(chart_svg(entry["chart"])),  # svg.py escapes every text
                "matrix_labels": entry.get("matrix_labels"),
                "matrix_rows": entry.get("matrix_rows"),
            }
        )
    return out


def shap_importance(version: ModelVersion) -> tuple[list[tuple[str, str]], str]:
    """Mean |SHAP| shares per feature from the version's monitoring reference, else the
    importances its metadata records."""
    reference = Reference.objects.filter(model_version=version).first()
    if reference is not None and reference.shap_share:
        pairs = sorted(reference.shap_share.items(), key=lambda p: -(p[1] or 0))
        return [(k, f"{(v or 0) * 100:.1f}%") for k, v in pairs], "SHAP (share of mean |SHAP|)"
    chart = (version.metadata.get("charts") or {}).get("feature_importance")
    if chart:
        pairs = sorted(
            zip(chart["features"], chart["importances"], strict=False), key=lambda p: -abs(p[1])
        )
        return [(k, number(v, 4)) for k, v in pairs], f"importance ({chart.get('method', 'model')})"
    return [], ""


def _monitoring(group: ModelGroup, version: ModelVersion) -> dict[str, Any] | None:
    snapshot = (
        Snapshot.objects.filter(group=group, model_version=version, period=Period.DAY)
        .order_by("-window_end")
        .first()
    )
    if snapshot is None:
        return None
    drift = snapshot.drift or {}
    drifted = [f["name"] for f in drift.get("features", []) if f.get("drifted")]
    return {
        "window": f"{snapshot.window_start:%Y-%m-%d %H:%M} – {snapshot.window_end:%Y-%m-%d %H:%M} UTC",
        "health": _plain_items(snapshot.health),
        "performance": _plain_items(snapshot.performance),
        "share_drifted": number(drift.get("share_drifted")),
        "drifted": ", ".join(drifted) or "none",
    }


def served_groups(version: ModelVersion) -> list[ModelGroup]:
    return list(
        ModelGroup.objects.filter(memberships__model_version=version)
        .exclude(table_name="")
        .distinct()
        .order_by("name")
    )


def group_section(group: ModelGroup, version: ModelVersion) -> dict[str, Any]:
    comparison = group_comparison(group=group, with_series=False, use_cache=False).as_dict()
    return {
        "group": group,
        "comparison": evidence_members(comparison, headline_only=False),
        "total_requests": number(comparison.get("total_requests")),
        "window": comparison.get("window"),
        "monitoring": _monitoring(group, version),
        "alerts": open_alerts(group),
    }


def audit_trail(version: ModelVersion) -> list[dict[str, Any]]:
    """Every promotion, rollback and traffic change that moved this version, with who made
    it, who approved it and the evidence kept with it."""
    changes = (
        RoleChange.objects.filter(Q(from_version=version) | Q(to_version=version))
        .select_related("group", "actor", "approved_by", "api_key")
        .select_related("from_version__model", "to_version__model")
        .order_by("created_at", "id")
    )
    out = []
    for change in changes:
        row = change_as_dict(change)
        row["group"] = change.group.name
        row["at_shown"] = f"{change.created_at:%Y-%m-%d %H:%M:%S} UTC"
        row["members_after"] = members_rows(change.weights_after)
        row["evidence"] = evidence_members(change.evidence.get("comparison"))
        row["evidence_note"] = (
            change.evidence.get("message", "")
            if change.evidence
            else ("No evidence was recorded with this change.")
        )
        row["evidence_recorded_at"] = change.evidence.get("recorded_at", "")
        out.append(row)
    return out


def decided_changes(version: ModelVersion) -> list[PendingChange]:
    """Four-eyes decisions on changes naming this version (approved or rejected)."""
    pending = PendingChange.objects.exclude(status=PendingStatus.PENDING).select_related(
        "group", "author", "decided_by"
    )
    return [
        p
        for p in pending.order_by("created_at")
        if str(p.payload.get("model_version")) == str(version.pk)
        or str(version.pk) in (p.payload.get("weights") or {})
    ]


def rollout_decisions(version: ModelVersion) -> list[RolloutDecision]:
    return list(
        RolloutDecision.objects.filter(
            Q(rollout__challenger=version) | Q(rollout__champion=version)
        )
        .select_related("rollout__group", "actor")
        .order_by("at", "id")
    )


def _gate_rows(source: str, gate: dict[str, Any]) -> list[dict[str, str]]:
    rows = []
    for r in gate.get("metrics") or []:
        sign = "≤" if r.get("direction") == "lower_is_better" else "≥"
        rows.append(
            {
                "source": source,
                "metric": str(r.get("label") or r.get("name", "")),
                "value": number(r.get("value"), 4),
                "threshold": f"{sign} {number(r.get('threshold'), 4)}",
                "passed": "pass" if r.get("passed") else "fail",
            }
        )
    return rows


def recipe_results(version: ModelVersion) -> list[dict[str, str]]:
    """The recipe's evaluation gate (each metric against its threshold): the one recorded
    when the version was trained from a recipe, and those of its later eval runs."""
    gate = (version.metadata.get("training") or {}).get("evaluation_gate")
    rows = _gate_rows("training hold-out", gate) if isinstance(gate, dict) else []
    runs = FineTuneJob.objects.filter(
        kind="eval", evaluated_version=version, status=JobStatus.SUCCEEDED
    ).order_by("finished_at", "id")
    for run in runs:
        run_gate = (run.results or {}).get("gate")
        if isinstance(run_gate, dict):
            rows += _gate_rows(f"eval run #{run.pk}", run_gate)
    return rows


@dataclass
class Report:
    version: ModelVersion
    generated_at: datetime
    metrics: list[dict[str, str]]
    lineage: list[dict[str, str]]
    training: list[tuple[str, str]]
    reference: dict[str, Any]
    charts: list[dict[str, Any]]
    shap: list[tuple[str, str]]
    shap_source: str
    groups: list[dict[str, Any]]
    recipe: list[dict[str, str]]
    audit: list[dict[str, Any]]
    decisions: list[PendingChange] = field(default_factory=list)
    rollout_decisions: list[RolloutDecision] = field(default_factory=list)

    @property
    def model(self):
        return self.version.model


def report_build(*, version: ModelVersion, progress=None) -> Report:
    """Everything the report shows; `progress(percent, step)` is told as sections finish."""
    tell = progress or (lambda percent, step: None)
    metadata = version.metadata or {}
    tell(10, "Validation metrics and charts")
    shap, shap_source = shap_importance(version)
    base = {
        "metrics": validation_metrics(metadata),
        "lineage": lineage(version),
        "training": _plain_items(metadata.get("training"), skip=("params",)),
        "reference": reference_summary(metadata),
        "charts": charts(version),
        "shap": shap,
        "shap_source": shap_source,
    }
    groups = served_groups(version)
    sections = []
    for index, group in enumerate(groups):
        tell(20 + int(60 * index / max(len(groups), 1)), f"Live comparison of {group.name}")
        sections.append(group_section(group, version))
    tell(85, "Audit trail")
    return Report(
        version=version,
        generated_at=timezone.now(),
        groups=sections,
        recipe=recipe_results(version),
        audit=audit_trail(version),
        decisions=decided_changes(version),
        rollout_decisions=rollout_decisions(version),
        **base,
    )


def report_html(report: Report, *, for_pdf: bool = False) -> str:
    return render_to_string(
        "governance/report_document.html", {"report": report, "for_pdf": for_pdf}
    )


def report_pdf(report: Report) -> bytes:
    from weasyprint import CSS, HTML

    stylesheet = finders.find("governance/report.css")
    html = report_html(report, for_pdf=True)
    return HTML(string=html).write_pdf(stylesheets=[CSS(filename=stylesheet)])


def report_served_rows(version: ModelVersion, *, limit: int) -> int:
    """The version's live rows in the groups it serves, counted up to `limit` (bounded:
    it only decides whether the report is built inline or on Celery)."""
    total = 0
    for group in served_groups(version):
        rows = inference_log_model(group.table_name).objects.filter(model_version_id=version.pk)
        total += rows.order_by()[: max(limit - total, 0) + 1].count()
        if total > limit:
            break
    return total
