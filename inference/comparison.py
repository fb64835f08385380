"""The champion and its challengers side by side, from a group's inference table.

Counts, sums, means, variances, confusion counts and latency percentiles are computed by
the database in one pass per window (GROUP BY model version). Only the (score, outcome,
time) of labelled rows come into Python, for AUC, log loss, Brier and DeLong's test:
streamed with .iterator() and capped at the latest MAX_SCORED_ROWS per member.

The window is read once, GROUP BY (model version, hour or day): the time series are those
buckets and each member's totals are their sums. Latency percentiles are one more query
per member through the (model_version_id, created_at) index: PERCENTILE_CONT on
PostgreSQL; SQLite has no ordered-set aggregates, so there each percentile reads the one
or two rows around its rank with ORDER BY latency_ms LIMIT 2 OFFSET k and interpolates
linearly: percentile_cont's definition, so both databases give the same number.
"""

import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from math import floor, sqrt
from typing import Any

from django.db import connection, transaction
from django.db.models import (
    Aggregate,
    Case,
    Count,
    F,
    FloatField,
    IntegerField,
    Model,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Trunc
from django.utils import timezone

from groups.models import Membership, ModelGroup, Role
from inference import analytics, stats
from inference.tables import inference_log_model

WINDOWS: dict[str, timedelta | None] = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "all": None,
}
WINDOW_LABELS = {"24h": "24 hours", "7d": "7 days", "30d": "30 days", "all": "All time"}
DEFAULT_WINDOW = "7d"
BUCKETS = {"24h": "hour", "7d": "hour", "30d": "day", "all": "day"}
PERCENTILES = (0.5, 0.95, 0.99)
# Enough for AUC to two decimals many times over, small enough for the page to stay fast.
MAX_SCORED_ROWS = 20_000

POSITIVE_PREDICTION = Q(prediction=1) | Q(prediction=True)
NEGATIVE_PREDICTION = Q(prediction=0) | Q(prediction=False)
POSITIVE_OUTCOME = Q(outcome=1) | Q(outcome=True)
NEGATIVE_OUTCOME = Q(outcome=0) | Q(outcome=False)
SERVED = ~Q(role=Role.SHADOW)  # shadows answer nobody: they take no traffic share

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
    "power": (
        "'More rows needed' scales the current standard error of the difference down to "
        "what a 2-point difference needs at 5% significance and 80% power."
    ),
}


class InvalidWindow(ValueError):
    pass


class PercentileCont(Aggregate):
    """PostgreSQL's ordered-set aggregate: percentile_cont(q) WITHIN GROUP (ORDER BY x)."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression: str, fraction: float) -> None:
        # A float we own, formatted into SQL: never user input.
        super().__init__(expression, fraction=repr(float(fraction)))


@dataclass(frozen=True)
class Totals:
    """What SQL aggregates for one model version in one window."""

    requests: int = 0
    served: int = 0
    scored: int = 0
    mean_score: float | None = None
    score_variance: float | None = None
    positives: int = 0
    fallbacks: int = 0
    errors: int = 0
    labelled: int = 0
    confusion: analytics.Confusion = analytics.Confusion()
    latency: tuple[float | None, ...] = (None, None, None)


@dataclass(frozen=True)
class Scored:
    """Labelled rows of one member, newest first, for the score-based metrics."""

    y: list[int] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    times: list[datetime] = field(default_factory=list)
    request_ids: list[str] = field(default_factory=list)
    truncated: bool = False


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


def _rows(model: type[Model], since: datetime | None, until: datetime) -> QuerySet:
    rows = model.objects.filter(created_at__lte=until)
    if since is not None:
        rows = rows.filter(created_at__gte=since)
    return rows.order_by()  # no ORDER BY in aggregates


def bucket_totals_query(model: type[Model], since: datetime | None, until: datetime, kind: str) -> QuerySet:
    """One scan of the window, GROUP BY (model version, hour or day): every count the cards
    and the time series need. Member totals are these buckets added up (exactly: counts and
    sums; the variance from the sum of squares), so the window is read once."""
    labelled = Q(outcome__isnull=False)
    return (
        _rows(model, since, until)
        .annotate(bucket=Trunc("created_at", kind))
        .values("model_version_id", "bucket")
        .annotate(
            requests=Count("id"),
            served=Count("id", filter=SERVED),
            scored=Count("score"),
            score_sum=Sum("score"),
            score_squares=Sum(F("score") * F("score")),
            positives=Count("id", filter=POSITIVE_PREDICTION),
            fallbacks=Count("id", filter=Q(fallback=True)),
            errors=Count("id", filter=~Q(error="")),
            labelled=Count("id", filter=labelled),
            tp=Count("id", filter=labelled & POSITIVE_OUTCOME & POSITIVE_PREDICTION),
            fp=Count("id", filter=labelled & NEGATIVE_OUTCOME & POSITIVE_PREDICTION),
            tn=Count("id", filter=labelled & NEGATIVE_OUTCOME & NEGATIVE_PREDICTION),
            fn=Count("id", filter=labelled & POSITIVE_OUTCOME & NEGATIVE_PREDICTION),
        )
        .order_by("bucket")
    )


_SUMMED = ("requests", "served", "scored", "score_sum", "score_squares", "positives", "fallbacks",
           "errors", "labelled", "tp", "fp", "tn", "fn")


def member_totals(
    model: type[Model], since: datetime | None, until: datetime, kind: str
) -> tuple[dict[int, Totals], dict[tuple[int, datetime], dict[str, Any]]]:
    """(totals per model version, bucket rows keyed by (version, bucket))."""
    buckets: dict[tuple[int, datetime], dict[str, Any]] = {}
    sums: dict[int, dict[str, float]] = defaultdict(lambda: dict.fromkeys(_SUMMED, 0))
    for row in bucket_totals_query(model, since, until, kind):
        buckets[(row["model_version_id"], row["bucket"])] = row
        total = sums[row["model_version_id"]]
        for key in _SUMMED:
            total[key] += row[key] or 0
    totals: dict[int, Totals] = {}
    latencies = latency_percentiles_by_member(model, since, until) if sums else {}
    for version_id, total in sums.items():
        n = int(total["scored"])
        mean = total["score_sum"] / n if n else None
        variance = None
        if n > 1 and mean is not None:
            variance = max(0.0, (total["score_squares"] - n * mean * mean) / (n - 1))
        totals[version_id] = Totals(
            requests=int(total["requests"]),
            served=int(total["served"]),
            scored=n,
            mean_score=mean,
            score_variance=variance,
            positives=int(total["positives"]),
            fallbacks=int(total["fallbacks"]),
            errors=int(total["errors"]),
            labelled=int(total["labelled"]),
            confusion=analytics.Confusion(
                tp=int(total["tp"]), fp=int(total["fp"]), tn=int(total["tn"]), fn=int(total["fn"])
            ),
            latency=latencies.get(version_id) or latency_percentiles(model, since, until, version_id, int(total["requests"])),
        )
    return totals, buckets


def latency_percentiles_by_member(
    model: type[Model], since: datetime | None, until: datetime
) -> dict[int, tuple[float | None, ...]]:
    """PostgreSQL: every member's p50/p95/p99 in one GROUP BY (one more pass over the window)."""
    if connection.vendor != "postgresql":
        return {}
    rows = _rows(model, since, until).values("model_version_id").annotate(
        **{f"p{i}": PercentileCont("latency_ms", q) for i, q in enumerate(PERCENTILES)}
    )
    return {row["model_version_id"]: tuple(row[f"p{i}"] for i in range(len(PERCENTILES))) for row in rows}


def member_rows(model: type[Model], since: datetime | None, until: datetime, version_id: int) -> QuerySet:
    return _rows(model, since, until).filter(model_version_id=version_id)


def latency_percentiles(
    model: type[Model], since: datetime | None, until: datetime, version_id: int, n: int
) -> tuple[float | None, ...]:
    """p50/p95/p99 of one member's latency over the window, read through the
    (model_version_id, created_at) index: PERCENTILE_CONT on PostgreSQL, and on SQLite the
    same definition by hand (the rows around each rank, in SQL order, interpolated)."""
    if not n:
        return (None,) * len(PERCENTILES)
    rows = member_rows(model, since, until, version_id)
    if connection.vendor == "postgresql":
        found = rows.aggregate(**{f"p{i}": PercentileCont("latency_ms", q) for i, q in enumerate(PERCENTILES)})
        return tuple(found[f"p{i}"] for i in range(len(PERCENTILES)))
    ordered = rows.order_by("latency_ms").values_list("latency_ms", flat=True)
    result: list[float | None] = []
    for q in PERCENTILES:
        position = q * (n - 1)
        low = floor(position)
        values = list(ordered[low : low + 2])
        if not values:
            result.append(None)
            continue
        high = values[1] if len(values) > 1 else values[0]
        result.append(values[0] + (high - values[0]) * (position - low))
    return tuple(result)


def _outcome_label() -> Case:
    # 0/1 computed in SQL: decoding a JSON value per row in Python costs more than the query.
    return Case(When(POSITIVE_OUTCOME, then=Value(1)), When(NEGATIVE_OUTCOME, then=Value(0)),
                output_field=IntegerField())


def scored_rows_query(
    model: type[Model], version_id: int, since: datetime | None, until: datetime,
    *, with_times: bool = True, with_ids: bool = False,
) -> QuerySet:
    columns = ["score", "label"] + (["created_at"] if with_times else []) + (["request_id"] if with_ids else [])
    return (
        member_rows(model, since, until, version_id)
        .filter(score__isnull=False)
        .filter(POSITIVE_OUTCOME | NEGATIVE_OUTCOME)
        .annotate(label=_outcome_label())
        .order_by("-created_at", "-id")
        .values_list(*columns)
    )


def scored_rows(
    model: type[Model], version_id: int, since: datetime | None, until: datetime, *,
    cap: int = MAX_SCORED_ROWS, with_times: bool = True, with_ids: bool = False,
) -> Scored:
    """The latest labelled (0/1 outcome) scored rows of a member, newest first, streamed."""
    rows = scored_rows_query(model, version_id, since, until, with_times=with_times, with_ids=with_ids)
    scored = Scored()
    for count, row in enumerate(rows[: cap + 1].iterator(chunk_size=5000)):
        if count == cap:
            return Scored(scored.y, scored.scores, scored.times, scored.request_ids, truncated=True)
        scored.scores.append(row[0])
        scored.y.append(row[1])
        if with_times:
            scored.times.append(row[2])
        if with_ids:
            scored.request_ids.append(str(row[-1]))
    return scored


def _bucket(moment: datetime, kind: str) -> datetime:
    moment = moment.astimezone(timezone.get_current_timezone())
    moment = moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0) if kind == "day" else moment


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
    if auc is not None:
        test = stats.delong_unpaired(scored.y, scored.scores, scored.y, scored.scores)
        if test is not None:
            half = analytics.Z_95 * sqrt(test.variance_a)
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
        if pairs is not None:
            y, a, b = pairs
            a_right = [int((s >= 0.5) == bool(t)) for t, s in zip(y, a, strict=True)]
            b_right = [int((s >= 0.5) == bool(t)) for t, s in zip(y, b, strict=True)]
            only_a = sum(1 for x, z in zip(a_right, b_right, strict=True) if x and not z)
            only_b = sum(1 for x, z in zip(a_right, b_right, strict=True) if z and not x)
            test = stats.mcnemar(only_a, only_b)
        else:
            test = stats.two_proportion_z(cc.correct, cc.n, hc.correct, hc.n)
        p1, p2 = cc.correct / cc.n, hc.correct / hc.n
        se = sqrt(p1 * (1 - p1) / cc.n + p2 * (1 - p2) / hc.n)
        more = stats.more_rows_for_se(se, cc.n + hc.n) if se > 0 else stats.more_rows_for_proportions(p1, cc.n, hc.n)
        accuracy.verdict = stats.verdict(test=test, difference=accuracy.delta, more_rows=more)
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
    # AUC per bucket from the same labelled rows the cards use.
    auc_rows: dict[tuple[int, datetime], tuple[list[int], list[float]]] = defaultdict(lambda: ([], []))
    for member in members:
        for label, score, moment in zip(member.scored.y, member.scored.scores, member.scored.times, strict=True):
            ys, ss = auc_rows[(member.version_id, _bucket(moment, kind))]
            ys.append(label)
            ss.append(score)
    fmt = "%b %d %H:00" if kind == "hour" else "%b %d"
    labels = [timezone.localtime(b).strftime(fmt) for b in buckets]

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

    def auc(key: tuple[int, datetime]) -> float | None:
        ys, ss = auc_rows.get(key, ([], []))
        return analytics.auc_roc(ys, ss) if ys else None

    specs = {
        "requests": ("Requests", lambda m, b: (sql_series.get((m.version_id, b)) or {}).get("requests", 0)),
        "mean_score": ("Mean score", lambda m, b: mean_score(sql_series.get((m.version_id, b)))),
        "accuracy": ("Accuracy", lambda m, b: accuracy(sql_series.get((m.version_id, b)))),
        "auc": ("AUC-ROC", lambda m, b: auc((m.version_id, b))),
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


@contextmanager
def _analytics_reads() -> Iterator[None]:
    """On PostgreSQL, switch off JIT for these reads (the planner's cost estimate over a big
    table triggers JIT compilation, 50-130 ms for queries that then run in about that) and
    give their sorts enough memory not to spill (measured in bench/analytics)."""
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")
            # The percentile sort and the GROUP BY fit in memory instead of spilling to disk.
            cursor.execute("SET LOCAL work_mem = '32MB'")
        yield


def group_comparison(*, group: ModelGroup, window: str = DEFAULT_WINDOW, now: datetime | None = None,
                     version_ids: Iterable[int] | None = None, with_series: bool = True) -> Comparison:
    """Every member's numbers in the window, each challenger tested against the champion."""
    with _analytics_reads():
        return _group_comparison(group, window, now, version_ids, with_series)


def _group_comparison(group: ModelGroup, window: str, now: datetime | None,
                      version_ids: Iterable[int] | None, with_series: bool) -> Comparison:
    now = now or timezone.now()
    since = window_start(window, now)
    model = inference_log_model(group.table_name)
    kind = BUCKETS[window]
    totals, buckets = member_totals(model, since, now, kind)
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
            scored_rows(model, version.pk, since, now, with_times=with_series, with_ids=pair_shadows)
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
