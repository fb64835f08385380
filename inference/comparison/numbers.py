"""Each member's numbers over a window, from what SQL aggregated (pure: no Django).

Rates carry Wilson intervals, AUC DeLong's interval; the score-based metrics (AUC, log
loss, Brier) come from the member's latest labelled rows (inference/aggregates.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from math import sqrt
from typing import TYPE_CHECKING, Any

from inference import analytics, stats

if TYPE_CHECKING:
    from inference.aggregates import Scored, TaskRows, Totals

CHAMPION, SHADOW = "champion", "shadow"
KPI_ORDER = ("requests", "traffic_share", "mean_score", "positive_rate", "accuracy", "auc")
DETAIL_ORDER = (
    "precision",
    "recall",
    "f1",
    "log_loss",
    "brier",
    "latency_p50",
    "latency_p95",
    "latency_p99",
)
# Requests and traffic share follow the weights: a "delta" there says nothing.
NO_DELTA = ("requests", "traffic_share")


@dataclass
class Metric:
    key: str
    label: str
    value: float | None
    interval: analytics.Interval | None = None
    delta: float | None = None
    verdict: stats.Verdict | None = None
    unit: str = "rate"  # rate (shown as %), number, ms, count
    higher_is_better: bool | None = True

    def _format(self, value: float | None, *, signed: bool = False) -> str:
        if value is None:
            return "—"
        sign = "+" if signed else ""
        if self.unit == "rate":
            return f"{value * 100:{sign}.1f}%" if not signed else f"{value * 100:+.1f} pts"
        if self.unit == "ms":
            return f"{value:{sign}.1f} ms"
        if self.unit == "count":
            return f"{value:{sign},.0f}"
        return f"{value:{sign}.3f}"

    @property
    def shown(self) -> str:
        return self._format(self.value)

    @property
    def interval_shown(self) -> str:
        if self.interval is None:
            return ""
        return f"95% CI {self._format(self.interval.low)} – {self._format(self.interval.high)}"

    @property
    def delta_shown(self) -> str:
        return "" if self.delta is None else f"{self._format(self.delta, signed=True)} vs champion"

    @property
    def verdict_shown(self) -> str:
        """The verdict with the test it comes from, and the difference's bootstrap interval."""
        verdict = self.verdict
        if verdict is None:
            return ""
        parts = [f"{verdict.text} ({verdict.test})" if verdict.test else verdict.text]
        for name, _, p in verdict.companions:
            parts.append(f"{name}: {stats.format_p(p)}")
        if verdict.difference_ci is not None:
            low, high = verdict.difference_ci
            parts.append(
                f"difference 95% CI {self._format(low, signed=True)} to "
                f"{self._format(high, signed=True)} (bootstrap)"
            )
        return "; ".join(parts)

    @property
    def detail(self) -> str:
        parts = [self.interval_shown, self.delta_shown, self.verdict_shown]
        return " · ".join(p for p in parts if p)

    def as_dict(self) -> dict[str, Any]:
        verdict = self.verdict
        out = {
            "value": self.value,
            "ci95": [self.interval.low, self.interval.high] if self.interval else None,
            "delta_vs_champion": self.delta,
            "verdict": verdict.text if verdict else None,
            "verdict_kind": verdict.kind if verdict else None,
            "p_value": verdict.p_value if verdict else None,
        }
        if verdict is not None:
            out["test"] = verdict.test or None
            out["more_rows"] = verdict.more_rows
            out["difference_ci95"] = list(verdict.difference_ci) if verdict.difference_ci else None
            out["other_tests"] = [
                {"name": name, "statistic": statistic, "p_value": p}
                for name, statistic, p in verdict.companions
            ]
        return out


@dataclass
class MemberStats:
    version_id: int
    model_name: str
    version_label: str
    role: str
    weight: int
    totals: Totals
    scored: Scored
    metrics: dict[str, Metric]
    traffic_share: float | None
    task: str = "binary_classification"  # registry.models.Task
    rows: TaskRows | None = None  # regression and multiclass: their labelled rows
    kpi_keys: tuple[str, ...] = KPI_ORDER
    detail_keys: tuple[str, ...] = DETAIL_ORDER

    @property
    def name(self) -> str:
        return f"{self.model_name} {self.version_label}"

    @property
    def is_champion(self) -> bool:
        return self.role == CHAMPION

    @property
    def class_scores(self) -> dict[str, Any]:
        """Multiclass: per-class precision / recall / support and the confusion matrix of
        every labelled row (empty for other tasks)."""
        if self.task != "multiclass_classification":
            return {}
        from inference.metrics.counts import multiclass_from_counts

        scores = multiclass_from_counts(self.totals.cells)
        if scores:
            scores["per_class"] = list(
                zip(
                    scores["labels"],
                    scores["precision"],
                    scores["recall"],
                    scores["support"],
                    scores["matrix"],
                    strict=True,
                )
            )
        return scores

    @property
    def outcome_example(self) -> str:
        """A feedback body's outcome for this task, for the page's curl example."""
        if self.task == "regression":
            return "12.5"
        if self.task == "multiclass_classification":
            labels = sorted({str(a) for _, a in self.totals.cells})
            return f'"{labels[0]}"' if labels else '"<class>"'
        return "1"

    @property
    def kpis(self) -> list[Metric]:
        return [self.metrics[k] for k in self.kpi_keys if k in self.metrics]

    @property
    def details(self) -> list[Metric]:
        return [self.metrics[k] for k in self.detail_keys if k in self.metrics]

    def as_dict(self) -> dict[str, Any]:
        if self.task in ("regression", "multiclass_classification"):
            from inference.comparison.tasks import member_as_dict

            return member_as_dict(self)
        t = self.totals
        return {
            "model_version": self.version_id,
            "model": self.model_name,
            "version": self.version_label,
            "role": self.role,
            "weight": self.weight,
            "requests": t.requests,
            "traffic_share": self.traffic_share,
            "labelled": t.labelled,
            "fallbacks": t.fallbacks,
            "errors": t.errors,
            "latency_ms": dict(zip(("p50", "p95", "p99"), t.latency, strict=True)),
            "confusion": {
                "tp": t.confusion.tp,
                "fp": t.confusion.fp,
                "tn": t.confusion.tn,
                "fn": t.confusion.fn,
            },
            "scored_rows_used": len(self.scored.y),
            "scored_rows_capped": self.scored.truncated,
            "metrics": {key: metric.as_dict() for key, metric in self.metrics.items()},
        }


def _rate(key: str, label: str, successes: int, n: int, **kwargs: Any) -> Metric:
    return Metric(
        key, label, successes / n if n else None, analytics.wilson_interval(successes, n), **kwargs
    )


def _auc(scored: Scored) -> Metric:
    y, scores = scored.arrays
    auc = analytics.auc_roc(y, scores)
    interval = None
    variance = stats.auc_variance(y, scores) if auc is not None else None
    if auc is not None and variance is not None:
        half = analytics.Z_95 * sqrt(variance)
        interval = analytics.Interval(max(0.0, auc - half), min(1.0, auc + half))
    return Metric("auc", "AUC-ROC", auc, interval, unit="number")


def _latencies(totals: Totals) -> list[Metric]:
    return [
        Metric(f"latency_{name}", f"Latency {name}", value, unit="ms", higher_is_better=False)
        for name, value in zip(("p50", "p95", "p99"), totals.latency, strict=True)
    ]


def member_metrics(totals: Totals, scored: Scored, total_served: int) -> dict[str, Metric]:
    c = totals.confusion
    mean_interval = analytics.mean_interval(totals.mean_score, totals.score_variance, totals.scored)
    metrics = [
        Metric("requests", "Requests", totals.requests, unit="count", higher_is_better=None),
        _rate("traffic_share", "Traffic share", totals.served, total_served, higher_is_better=None),
        Metric(
            "mean_score",
            "Mean score",
            totals.mean_score,
            mean_interval,
            unit="number",
            higher_is_better=None,
        ),
        _rate(
            "positive_rate",
            "Positive rate",
            totals.positives,
            totals.requests,
            higher_is_better=None,
        ),
        _rate("accuracy", "Accuracy", c.correct, c.n),
        _auc(scored),
        _rate("precision", "Precision", c.tp, c.tp + c.fp),
        _rate("recall", "Recall", c.tp, c.tp + c.fn),
        Metric("f1", "F1", c.f1, unit="number"),
        Metric(
            "log_loss",
            "Log loss",
            analytics.log_loss(*scored.arrays),
            unit="number",
            higher_is_better=False,
        ),
        Metric(
            "brier",
            "Brier score",
            analytics.brier(*scored.arrays),
            unit="number",
            higher_is_better=False,
        ),
        *_latencies(totals),
    ]
    return {m.key: m for m in metrics}


def deltas_fill(champion: MemberStats, challenger: MemberStats) -> None:
    """Each challenger metric's difference from the champion's (where one means something)."""
    for key, metric in challenger.metrics.items():
        base = champion.metrics[key].value
        if metric.value is not None and base is not None and key not in NO_DELTA:
            metric.delta = metric.value - base


Pairs = tuple[list[int], list[float], list[float]]


def paired_rows(
    champion: MemberStats, challenger: MemberStats, shadow_id: Callable[[uuid.UUID, int], uuid.UUID]
) -> Pairs | None:
    """(outcome, champion score, shadow score) for requests both answered, or None.

    A shadow scores every served request and logs it under an id derived from the served
    request's id (`shadow_id`, inference.serving.shadow_request_id), so the champion's
    labelled rows name the shadow rows that pair with them. Split-traffic challengers
    never pair.
    """
    if challenger.role != SHADOW or not challenger.scored.y:
        return None
    theirs = challenger.scored
    shadow_rows = dict(
        zip(theirs.request_ids, zip(theirs.y, theirs.scores, strict=True), strict=True)
    )
    y: list[int] = []
    a: list[float] = []
    b: list[float] = []
    ours = champion.scored
    for request_id, label, score in zip(ours.request_ids, ours.y, ours.scores, strict=True):
        match = shadow_rows.get(str(shadow_id(uuid.UUID(request_id), challenger.version_id)))
        if match is not None and match[0] == label:
            y.append(label)
            a.append(score)
            b.append(match[1])
    return (y, a, b) if y else None
