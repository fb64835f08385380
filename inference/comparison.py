"""The champion and its challengers side by side, from a group's inference table.

Each member's numbers over a window (what SQL aggregates in inference/aggregates.py, from
the hourly roll-ups and the raw log, plus the score-based metrics on its latest labelled
rows), every challenger tested against the champion (inference/stats.py), one plain verdict
per metric, and the time-series charts. Latency percentiles are within 1% of the exact value
(inference/latency_sketch.py); every other number is exact.
"""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from math import sqrt
from typing import Any

import numpy as np
from django.core.cache import cache
from django.utils import timezone

from groups.models import Membership, ModelGroup, Role
from groups.selectors import routing_generation
from inference import aggregates, analytics, stats
from inference.aggregates import Scored, Totals
from inference.tables import inference_log_model

WINDOWS: dict[str, timedelta | None] = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "all": None,
}
WINDOW_LABELS = {"24h": "24 hours", "7d": "7 days", "30d": "30 days", "all": "All time"}
DEFAULT_WINDOW = "7d"
CACHE_SECONDS = 10  # the page's polling interval
BUCKETS = {"24h": "hour", "7d": "day", "30d": "day", "all": "day"}

METHOD_NOTES = {
    "rates": "Rates carry 95% Wilson score intervals, which stay honest at small counts.",
    "accuracy": (
        "Accuracy: a two-proportion z-test between the members' labelled rows "
        "(McNemar's test on the disagreements when both models scored the same requests)."
    ),
    "auc": (
        "AUC: DeLong's test on the latest labelled rows of each member "
        "(paired, with the two AUCs' covariance, when both scored the same requests)."
    ),
    "mean_score": "Mean score: Welch's t-test, which does not assume equal variances.",
    "latency": (
        "Latency percentiles come from a histogram with 1% wide buckets (as DDSketch): "
        "within 1% of the exact value."
    ),
    "power": (
        "'More rows needed' scales the current standard error of the difference down to "
        "what a 2-point difference needs at 5% significance and 80% power."
    ),
}


class InvalidWindow(ValueError):
    pass


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
    def detail(self) -> str:
        parts = [self.interval_shown, self.delta_shown, self.verdict.text if self.verdict else ""]
        return " · ".join(p for p in parts if p)

    def as_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "ci95": [self.interval.low, self.interval.high] if self.interval else None,
            "delta_vs_champion": self.delta,
            "verdict": self.verdict.text if self.verdict else None,
            "verdict_kind": self.verdict.kind if self.verdict else None,
            "p_value": self.verdict.p_value if self.verdict else None,
        }


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

    @property
    def name(self) -> str:
        return f"{self.model_name} {self.version_label}"

    @property
    def is_champion(self) -> bool:
        return self.role == Role.CHAMPION

    @property
    def kpis(self) -> list[Metric]:
        return [self.metrics[k] for k in KPI_ORDER if k in self.metrics]

    @property
    def details(self) -> list[Metric]:
        return [self.metrics[k] for k in DETAIL_ORDER if k in self.metrics]

    def as_dict(self) -> dict[str, Any]:
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
            "confusion": {"tp": t.confusion.tp, "fp": t.confusion.fp, "tn": t.confusion.tn, "fn": t.confusion.fn},
            "scored_rows_used": len(self.scored.y),
            "scored_rows_capped": self.scored.truncated,
            "metrics": {key: metric.as_dict() for key, metric in self.metrics.items()},
        }


KPI_ORDER = ("requests", "traffic_share", "mean_score", "positive_rate", "accuracy", "auc")
DETAIL_ORDER = ("precision", "recall", "f1", "log_loss", "brier", "latency_p50", "latency_p95", "latency_p99")


@dataclass
class Comparison:
    group: ModelGroup
    window: str
    since: datetime | None
    now: datetime
    members: list[MemberStats]
    total_requests: int
    paired: bool
    series: dict[str, dict[str, Any]]

    @property
    def champion(self) -> MemberStats | None:
        return next((m for m in self.members if m.is_champion), self.members[0] if self.members else None)

    @property
    def challengers(self) -> list[MemberStats]:
        champion = self.champion
        return [m for m in self.members if m is not champion]

    @property
    def window_label(self) -> str:
        return WINDOW_LABELS[self.window]

    def as_dict(self) -> dict[str, Any]:
        return {
            "group": self.group.slug,
            "window": self.window,
            "since": self.since.isoformat() if self.since else None,
            "until": self.now.isoformat(),
            "total_requests": self.total_requests,
            "paired": self.paired,
            "members": [m.as_dict() for m in self.members],
            "method": METHOD_NOTES,
        }


def window_start(window: str, now: datetime) -> datetime | None:
    if window not in WINDOWS:
        raise InvalidWindow(f"Unknown window {window!r}: use one of {', '.join(WINDOWS)}.")
    span = WINDOWS[window]
    return now - span if span else None


def _memberships(group: ModelGroup) -> list[Membership]:
    order = {Role.CHAMPION: 0, Role.CHALLENGER: 1, Role.SHADOW: 2}
    members = list(group.memberships.select_related("model_version__model"))
    return sorted(members, key=lambda m: (order.get(m.role, 3), -m.weight, m.model_version_id))


def _rate(key: str, label: str, successes: int, n: int, **kwargs: Any) -> Metric:
    return Metric(
        key, label, successes / n if n else None, analytics.wilson_interval(successes, n), **kwargs
    )


def _member_metrics(totals: Totals, scored: Scored, total_served: int) -> dict[str, Metric]:
    c = totals.confusion
    auc = analytics.auc_roc(scored.y, scored.scores)
    auc_interval = None
    variance = stats.auc_variance(scored.y, scored.scores) if auc is not None else None
    if auc is not None and variance is not None:
        half = analytics.Z_95 * sqrt(variance)
        auc_interval = analytics.Interval(max(0.0, auc - half), min(1.0, auc + half))
    p50, p95, p99 = totals.latency
    metrics = [
        Metric("requests", "Requests", totals.requests, unit="count", higher_is_better=None),
        _rate("traffic_share", "Traffic share", totals.served, total_served, higher_is_better=None),
        Metric(
            "mean_score",
            "Mean score",
            totals.mean_score,
            analytics.mean_interval(totals.mean_score, totals.score_variance, totals.scored),
            unit="number",
            higher_is_better=None,
        ),
        _rate("positive_rate", "Positive rate", totals.positives, totals.requests, higher_is_better=None),
        _rate("accuracy", "Accuracy", c.correct, c.n),
        Metric("auc", "AUC-ROC", auc, auc_interval, unit="number"),
        _rate("precision", "Precision", c.tp, c.tp + c.fp),
        _rate("recall", "Recall", c.tp, c.tp + c.fn),
        Metric("f1", "F1", c.f1, unit="number"),
        Metric("log_loss", "Log loss", analytics.log_loss(scored.y, scored.scores), unit="number", higher_is_better=False),
        Metric("brier", "Brier score", analytics.brier(scored.y, scored.scores), unit="number", higher_is_better=False),
        Metric("latency_p50", "Latency p50", p50, unit="ms", higher_is_better=False),
        Metric("latency_p95", "Latency p95", p95, unit="ms", higher_is_better=False),
        Metric("latency_p99", "Latency p99", p99, unit="ms", higher_is_better=False),
    ]
    return {m.key: m for m in metrics}


def _pairs(champion: MemberStats, challenger: MemberStats) -> tuple[list[int], list[float], list[float]] | None:
    """(outcome, champion score, shadow score) for requests both answered, or None.

    A shadow scores every served request and logs it under an id derived from the served
    request's id (inference.serving.shadow_request_id), so the champion's labelled rows
    name the shadow rows that pair with them. Split-traffic challengers never pair.
    """
    if challenger.role != Role.SHADOW or not challenger.scored.y:
        return None
    from inference.serving import shadow_request_id  # the serving path's own rule

    shadow_rows = dict(
        zip(challenger.scored.request_ids, zip(challenger.scored.y, challenger.scored.scores, strict=True), strict=True)
    )
    y, a, b = [], [], []
    for request_id, label, score in zip(
        champion.scored.request_ids, champion.scored.y, champion.scored.scores, strict=True
    ):
        match = shadow_rows.get(str(shadow_request_id(uuid.UUID(request_id), challenger.version_id)))
        if match is not None and match[0] == label:
            y.append(label)
            a.append(score)
            b.append(match[1])
    return (y, a, b) if y else None


def _compare(champion: MemberStats, challenger: MemberStats) -> bool:
    """Fill the challenger's deltas and verdicts; True when the tests were paired."""
    ct, ht = champion.totals, challenger.totals
    cc, hc = ct.confusion, ht.confusion
    for key, metric in challenger.metrics.items():
        base = champion.metrics[key].value
        # Requests and traffic share follow the weights: a "delta" there says nothing.
        if metric.value is not None and base is not None and key not in ("requests", "traffic_share"):
            metric.delta = metric.value - base

    pairs = _pairs(champion, challenger)
    accuracy = challenger.metrics["accuracy"]
    auc = challenger.metrics["auc"]
    if cc.n and hc.n:
        difference = accuracy.delta
        if pairs is not None:
            # On paired rows a prediction is the score's side of 0.5 (the pairs carry scores).
            y, a, b = pairs
            a_right = [(s >= 0.5) == bool(t) for t, s in zip(y, a, strict=True)]
            b_right = [(s >= 0.5) == bool(t) for t, s in zip(y, b, strict=True)]
            only_a = sum(1 for x, z in zip(a_right, b_right, strict=True) if x and not z)
            only_b = sum(1 for x, z in zip(a_right, b_right, strict=True) if z and not x)
            test = stats.mcnemar(only_a, only_b)
            difference = (only_b - only_a) / len(y)  # the paired difference the test is about
        else:
            test = stats.two_proportion_z(cc.correct, cc.n, hc.correct, hc.n)
        p1, p2 = cc.correct / cc.n, hc.correct / hc.n
        se = sqrt(p1 * (1 - p1) / cc.n + p2 * (1 - p2) / hc.n)
        more = stats.more_rows_for_se(se, cc.n + hc.n) if se > 0 else stats.more_rows_for_proportions(p1, cc.n, hc.n)
        accuracy.verdict = stats.verdict(test=test, difference=difference, more_rows=more)
    else:
        accuracy.verdict = stats.verdict(test=None, difference=None, more_rows=None)

    if pairs is not None:
        auc_test = stats.delong_paired(*pairs)
    else:
        auc_test = stats.delong_unpaired(
            champion.scored.y, champion.scored.scores, challenger.scored.y, challenger.scored.scores
        )
    if auc_test is not None:
        more = stats.more_rows_for_se(auc_test.se_difference, len(champion.scored.y) + len(challenger.scored.y))
        auc.verdict = stats.verdict(test=auc_test, difference=auc.delta, more_rows=more)
    else:
        auc.verdict = stats.verdict(test=None, difference=None, more_rows=None)

    mean = challenger.metrics["mean_score"]
    welch = None
    if ct.mean_score is not None and ht.mean_score is not None:
        welch = stats.welch_t(
            ct.mean_score, ct.score_variance or 0.0, ct.scored, ht.mean_score, ht.score_variance or 0.0, ht.scored
        )
    if welch is not None:
        se = sqrt((ct.score_variance or 0.0) / ct.scored + (ht.score_variance or 0.0) / ht.scored)
        more = stats.more_rows_for_se(se, ct.scored + ht.scored)
        # A higher mean score is neither better nor worse: say "higher"/"lower" instead.
        verdict = stats.verdict(test=welch, difference=mean.delta, more_rows=more, rows_noun="rows")
        if verdict.kind in ("better", "worse"):
            direction = "higher" if (mean.delta or 0) > 0 else "lower"
            verdict = stats.Verdict(direction, f"challenger scores {direction}, {stats.format_p(welch.p_value)}", welch.p_value)
        mean.verdict = verdict
    else:
        mean.verdict = stats.verdict(test=None, difference=None, more_rows=None, rows_noun="rows")
    return pairs is not None


_COLOURS = ("#2f5bea", "#d97706", "#059669", "#b42318", "#7c3aed", "#0891b2")


def _series_charts(
    members: list[MemberStats],
    sql_series: dict[tuple[int, datetime], dict[str, Any]],
    kind: str,
) -> dict[str, dict[str, Any]]:
    buckets = sorted({bucket for (_, bucket) in sql_series})
    # AUC per bucket from the same labelled rows the cards use, split by bucket in numpy
    # (tens of thousands of rows: a Python loop over them cost more than the query).
    auc_rows: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
    for member in members:
        if not member.scored.y:
            continue
        keys = np.floor_divide(np.asarray(member.scored.times), aggregates.BUCKET_SECONDS[kind]).astype(np.int64)
        y, scores = np.asarray(member.scored.y), np.asarray(member.scored.scores)
        for key in np.unique(keys):
            inside = keys == key
            auc_rows[(member.version_id, int(key))] = (y[inside], scores[inside])
    fmt = "%b %d %H:00" if kind == "hour" else "%b %d"
    labels = [b.astimezone(UTC).strftime(fmt) for b in buckets]

    def dataset(member: MemberStats, i: int, values: Iterable[float | None]) -> dict[str, Any]:
        colour = _COLOURS[i % len(_COLOURS)]
        return {
            "label": f"{member.version_label} ({member.role})",
            "data": [None if v is None else round(v, 6) for v in values],
            "borderColor": colour,
            "backgroundColor": colour,
            "spanGaps": True,
            "pointRadius": 2,
            "tension": 0.2,
        }

    def accuracy(row: dict[str, Any] | None) -> float | None:
        if not row:
            return None
        evaluated = row["tp"] + row["fp"] + row["tn"] + row["fn"]
        return (row["tp"] + row["tn"]) / evaluated if evaluated else None

    def mean_score(row: dict[str, Any] | None) -> float | None:
        return row["score_sum"] / row["scored"] if row and row["scored"] else None

    def auc(version_id: int, bucket: datetime) -> float | None:
        rows = auc_rows.get((version_id, aggregates.bucket_key(bucket.timestamp(), kind)))
        return analytics.auc_roc(*rows) if rows is not None else None

    specs = {
        "requests": ("Requests", lambda m, b: (sql_series.get((m.version_id, b)) or {}).get("requests", 0)),
        "mean_score": ("Mean score", lambda m, b: mean_score(sql_series.get((m.version_id, b)))),
        "accuracy": ("Accuracy", lambda m, b: accuracy(sql_series.get((m.version_id, b)))),
        "auc": ("AUC-ROC", lambda m, b: auc(m.version_id, b)),
    }
    charts = {}
    for key, (title, value) in specs.items():
        charts[key] = {
            "type": "line",
            "data": {
                "labels": labels,
                "datasets": [dataset(m, i, [value(m, b) for b in buckets]) for i, m in enumerate(members)],
            },
            "options": {
                "plugins": {"title": {"display": True, "text": f"{title} per {kind}"}},
                "scales": {"y": {"beginAtZero": key == "requests"}},
            },
        }
    return charts



def group_comparison(*, group: ModelGroup, window: str = DEFAULT_WINDOW, now: datetime | None = None,
                     version_ids: Iterable[int] | None = None, with_series: bool = True,
                     use_cache: bool = True) -> Comparison:
    """Every member's numbers in the window, each challenger tested against the champion.

    A live comparison (no `now` given) is kept CACHE_SECONDS in Django's cache: the page
    polls every 10 s, and any number of viewers then cost one computation per interval.
    The key carries the routing generation, which every role or weight change bumps, so
    a promotion shows at once; new rows and feedback show within CACHE_SECONDS (the page
    says when its numbers were computed).
    """
    window_start(window, timezone.now())  # refuse an unknown window before anything else
    key = None
    if use_cache and now is None and version_ids is None:
        key = f"inference:comparison:{group.pk}:{window}:{int(with_series)}:{routing_generation()}"
        cached = cache.get(key)
        if cached is not None:
            return cached
    with aggregates.analytics_reads():
        result = _group_comparison(group, window, now, version_ids, with_series)
    if key is not None:
        cache.set(key, result, CACHE_SECONDS)
    return result


def _group_comparison(group: ModelGroup, window: str, now: datetime | None,
                      version_ids: Iterable[int] | None, with_series: bool) -> Comparison:
    now = now or timezone.now()
    since = window_start(window, now)
    model = inference_log_model(group.table_name)
    kind = BUCKETS[window]
    totals, buckets = aggregates.member_totals(model, since, now, kind, group_id=group.pk)
    total_served = sum(t.served for t in totals.values())
    memberships = _memberships(group)
    if version_ids is not None:
        wanted = set(version_ids)
        champion_ids = {m.model_version_id for m in memberships if m.role == Role.CHAMPION}
        memberships = [m for m in memberships if m.model_version_id in wanted | champion_ids]
    members = []
    # Shadow rows pair with the champion's by request id: fetch ids only when there are shadows.
    pair_shadows = any(m.role == Role.SHADOW for m in memberships)
    for membership in memberships:
        version = membership.model_version
        member_total = totals.get(version.pk, Totals())
        scored = (
            aggregates.scored_rows(model, version.pk, since, now, with_times=with_series, with_ids=pair_shadows)
            if member_total.labelled
            else Scored()
        )
        members.append(
            MemberStats(
                version_id=version.pk,
                model_name=version.model.name,
                version_label=version.version,
                role=membership.role,
                weight=membership.weight,
                totals=member_total,
                scored=scored,
                metrics=_member_metrics(member_total, scored, total_served),
                traffic_share=member_total.served / total_served if total_served else None,
            )
        )
    comparison = Comparison(
        group=group,
        window=window,
        since=since,
        now=now,
        members=members,
        total_requests=sum(t.requests for t in totals.values()),
        paired=False,
        series={},
    )
    champion = comparison.champion
    for challenger in comparison.challengers:
        comparison.paired |= _compare(champion, challenger)
    if with_series and members:
        comparison.series = _series_charts(members, buckets, kind)
    return comparison


def version_live_metrics(*, version_id: int, window: str = DEFAULT_WINDOW) -> list[tuple[ModelGroup, MemberStats]]:
    """The version's live numbers in every group it serves in (for the model page)."""
    result = []
    groups = ModelGroup.objects.filter(memberships__model_version_id=version_id).exclude(table_name="")
    for group in groups.distinct():
        comparison = group_comparison(group=group, window=window, version_ids=[version_id], with_series=False)
        member = next((m for m in comparison.members if m.version_id == version_id), None)
        if member is not None:
            result.append((group, member))
    return result
