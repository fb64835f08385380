"""SQL over a group's inference table: what the comparison needs, read in as few passes
as the database allows.

- One scan of the window, GROUP BY (model version, hour or day, prediction, outcome): the
  counts, score sums and confusion cells of every member and time bucket. Member totals
  are these groups added up in Python (exact: counts and sums).
- Latency p50/p95/p99: PERCENTILE_CONT on PostgreSQL, one GROUP BY over the window. SQLite
  has no ordered-set aggregates, so there each percentile reads the one or two rows around
  its rank (ORDER BY latency_ms LIMIT 2 OFFSET k) and interpolates linearly: the same
  definition as percentile_cont, so both databases give the same number.
- Only the (score, 0/1 outcome, time) of labelled rows come into Python, for AUC, log loss,
  Brier and DeLong's test: newest first, capped at MAX_SCORED_ROWS per member, read in chunks.
"""

import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from math import floor
from typing import Any

from django.db import connection, transaction
from django.db.models import (
    Aggregate,
    Case,
    Count,
    F,
    FloatField,
    Func,
    IntegerField,
    Model,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Trunc

from groups.models import Role
from inference import analytics

PERCENTILES = (0.5, 0.95, 0.99)
# Enough for AUC to two decimals many times over, small enough for the page to stay fast.
MAX_SCORED_ROWS = 20_000

POSITIVE_OUTCOME = Q(outcome=1) | Q(outcome=True)
NEGATIVE_OUTCOME = Q(outcome=0) | Q(outcome=False)
SERVED = ~Q(role=Role.SHADOW)  # shadows answer nobody: they take no traffic share


class PercentileCont(Aggregate):
    """PostgreSQL's ordered-set aggregate: percentile_cont(q) WITHIN GROUP (ORDER BY x)."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression: str, fraction: float) -> None:
        # A float we own, formatted into SQL: never user input.
        super().__init__(expression, fraction=repr(float(fraction)))


class EpochSeconds(Func):
    """A timestamp as seconds since the epoch: cheaper to bring into Python than a datetime."""

    output_field = FloatField()

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(compiler, connection, template="EXTRACT(EPOCH FROM %(expressions)s)::float8", **extra)

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        # SQLite keeps aware datetimes as UTC text; julianday keeps the microseconds.
        return self.as_sql(
            compiler, connection, template="((julianday(%(expressions)s) - 2440587.5) * 86400.0)", **extra
        )


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
    times: list[float] = field(default_factory=list)  # seconds since the epoch (UTC)
    request_ids: list[str] = field(default_factory=list)
    truncated: bool = False



def window_rows(model: type[Model], since: datetime | None, until: datetime) -> QuerySet:
    rows = model.objects.filter(created_at__lte=until)
    if since is not None:
        rows = rows.filter(created_at__gte=since)
    return rows.order_by()  # no ORDER BY in aggregates


def bucket_totals_query(model: type[Model], since: datetime | None, until: datetime, kind: str) -> QuerySet:
    """One scan of the window, GROUP BY (model version, hour or day, prediction, outcome).

    Grouping by the two labels instead of counting each confusion cell with its own JSON
    comparison halves the cost of the scan (bench/analytics); for a classifier they take a
    handful of values, so a few thousand small groups come back at most. Member totals and
    time series are these groups added up in Python: exactly, as they are counts and sums
    (the variance from the sum of squares)."""
    return (
        window_rows(model, since, until)
        .annotate(bucket=Trunc("created_at", kind, tzinfo=UTC))  # charts bucket in UTC
        .values("model_version_id", "bucket", "prediction", "outcome")
        .annotate(
            requests=Count("id"),
            served=Count("id", filter=SERVED),
            scored=Count("score"),
            score_sum=Sum("score"),
            score_squares=Sum(F("score") * F("score")),
            fallbacks=Count("id", filter=Q(fallback=True)),
            errors=Count("id", filter=~Q(error="")),
        )
        .order_by()
    )


_SUMMED = ("requests", "served", "scored", "score_sum", "score_squares", "positives", "fallbacks",
           "errors", "labelled", "tp", "fp", "tn", "fn")


def _label(value: Any) -> int | None:
    """A prediction or outcome stored as JSON (1, true, "1") as 0/1; anything else None."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float) and value in (0, 1):
        return int(value)
    if isinstance(value, str) and value.strip() in ("0", "1"):
        return int(value.strip())
    return None


def _add_group(total: dict[str, float], row: dict[str, Any]) -> None:
    for key in ("requests", "served", "scored", "score_sum", "score_squares", "fallbacks", "errors"):
        total[key] += row[key] or 0
    predicted, actual = _label(row["prediction"]), _label(row["outcome"])
    n = row["requests"]
    if predicted == 1:
        total["positives"] += n
    if row["outcome"] is not None:
        total["labelled"] += n
    if predicted is not None and actual is not None:
        cell = {(1, 1): "tp", (1, 0): "fp", (0, 0): "tn", (0, 1): "fn"}[(predicted, actual)]
        total[cell] += n


def member_totals(
    model: type[Model], since: datetime | None, until: datetime, kind: str
) -> tuple[dict[int, Totals], dict[tuple[int, datetime], dict[str, Any]]]:
    """(totals per model version, summed rows per (version, bucket) for the time series)."""
    buckets: dict[tuple[int, datetime], dict[str, float]] = defaultdict(lambda: dict.fromkeys(_SUMMED, 0))
    sums: dict[int, dict[str, float]] = defaultdict(lambda: dict.fromkeys(_SUMMED, 0))
    for row in bucket_totals_query(model, since, until, kind):
        _add_group(buckets[(row["model_version_id"], row["bucket"])], row)
        _add_group(sums[row["model_version_id"]], row)
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
            latency=latencies.get(version_id)
            or latency_percentiles(model, since, until, version_id, int(total["requests"])),
        )
    return totals, dict(buckets)


def latency_percentiles_by_member(
    model: type[Model], since: datetime | None, until: datetime
) -> dict[int, tuple[float | None, ...]]:
    """PostgreSQL: every member's p50/p95/p99 in one GROUP BY (one more pass over the window)."""
    if connection.vendor != "postgresql":
        return {}
    rows = window_rows(model, since, until).values("model_version_id").annotate(
        **{f"p{i}": PercentileCont("latency_ms", q) for i, q in enumerate(PERCENTILES)}
    )
    return {row["model_version_id"]: tuple(row[f"p{i}"] for i in range(len(PERCENTILES))) for row in rows}


def member_rows(model: type[Model], since: datetime | None, until: datetime, version_id: int) -> QuerySet:
    return window_rows(model, since, until).filter(model_version_id=version_id)


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
    columns = ["score", "label"] + (["epoch"] if with_times else []) + (["request_id"] if with_ids else [])
    return (
        member_rows(model, since, until, version_id)
        .annotate(epoch=EpochSeconds("created_at"))
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
    query = scored_rows_query(model, version_id, since, until, with_times=with_times, with_ids=with_ids)
    # The ORM writes the SQL; the rows are read in chunks straight off the cursor, skipping
    # Django's per-value converters (float(), int()), which cost more than the query here.
    # Memory stays bounded by the cap.
    sql, params = query[: cap + 1].query.sql_with_params()
    scored = Scored()
    count = 0
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while chunk := cursor.fetchmany(5000):
            for row in chunk:
                if count == cap:
                    return Scored(scored.y, scored.scores, scored.times, scored.request_ids, truncated=True)
                count += 1
                scored.scores.append(float(row[0]))
                scored.y.append(int(row[1]))
                if with_times:
                    scored.times.append(float(row[2]))
                if with_ids:
                    scored.request_ids.append(str(uuid.UUID(str(row[-1]))))
    return scored


BUCKET_SECONDS = {"hour": 3600, "day": 86400}


def bucket_key(epoch: float, kind: str) -> int:
    return int(epoch // BUCKET_SECONDS[kind])


@contextmanager
def analytics_reads() -> Iterator[None]:
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
