"""Evidence and metrics as rows a person reads (the history page, the validation report);
plain data only, the templates lay it out."""

from __future__ import annotations

from typing import Any

# The numbers a reviewer reads first, in this order; other metrics follow.
HEADLINE = ("auc", "accuracy", "mae", "rmse", "log_loss", "positive_rate", "mean_score")
SKIPPED = ("requests", "traffic_share")


def number(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def interval(ci: Any) -> str:
    if not ci or len(ci) != 2 or ci[0] is None or ci[1] is None:
        return ""
    return f"{number(ci[0])} – {number(ci[1])}"


def _metric_row(key: str, metric: dict[str, Any]) -> dict[str, str]:
    verdict = metric.get("verdict") or ""
    if verdict and metric.get("test"):
        verdict = f"{verdict} ({metric['test']})"
    return {
        "key": key,
        "value": number(metric.get("value")),
        "ci95": interval(metric.get("ci95")),
        "verdict": verdict,
    }


def _ordered(metrics: dict[str, Any], headline_only: bool) -> list[str]:
    keys = [k for k in HEADLINE if k in metrics]
    if not headline_only:
        keys += [k for k in metrics if k not in keys and k not in SKIPPED]
    return keys


def evidence_members(
    comparison: dict[str, Any] | None, *, headline_only: bool = True
) -> list[dict[str, Any]]:
    """Each member of a stored comparison: who, role, weight, rows, and its metrics with
    95% intervals and the test against the champion."""
    if not comparison:
        return []
    out = []
    for member in comparison.get("members", []):
        metrics = member.get("metrics", {})
        out.append(
            {
                "name": f"{member.get('model', '')} {member.get('version', '')}".strip(),
                "role": member.get("role", ""),
                "weight": member.get("weight"),
                "requests": number(member.get("requests")),
                "labelled": number(member.get("labelled")),
                "metrics": [_metric_row(k, metrics[k]) for k in _ordered(metrics, headline_only)],
            }
        )
    return out


def evidence_text(comparison: dict[str, Any] | None) -> str:
    """One line per member, for exports and the PDF's audit trail."""
    parts = []
    for member in evidence_members(comparison):
        numbers = ", ".join(
            f"{m['key']} {m['value']}" + (f" [{m['ci95']}]" if m["ci95"] else "")
            for m in member["metrics"]
        )
        parts.append(
            f"{member['name']} ({member['role']}): {member['requests']} requests; {numbers}"
        )
    return "; ".join(parts)
