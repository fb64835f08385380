"""SQL over a group's inference table and its hourly roll-ups: what the comparison needs,
read in as few passes as the database allows.

- Counts, score sums and confusion cells per member and time bucket: the roll-ups
  (inference/rollup.py) of every clean hour the window covers whole, plus one scan of the
  rest of the window (its partial first hour, the hours changed since their roll-up, the
  hours not rolled up yet), GROUP BY (model version, hour or day, prediction, outcome).
  Both are added up in Python: exactly, as they are counts and sums, so the numbers equal
  one scan of the whole window. Without roll-ups (beat not running) that scan covers the
  whole window: the same numbers, only slower.
- Latency p50/p95/p99 from a log-bucketed histogram per member (inference/latency_sketch.py),
  the roll-ups' added to one GROUP BY (model version, latency bucket) of the same raw rest:
  within 1% of the exact value, and the same on both databases.
- Only the (score, 0/1 outcome, time) of labelled rows come into Python, for AUC, log loss,
  Brier and DeLong's test: newest first, capped at MAX_SCORED_ROWS per member (on
  PostgreSQL as one row of binary arrays, the members after the first each on a
  connection of its own while the request's reads the totals; on SQLite read in chunks).
"""

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import numpy as np
import orjson
import psycopg
from django.db import connection, transaction
from django.db.models import (
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
from django.db.models.functions import Abs, Cast, Ceil, Ln, Trunc

from groups.models import Role
from inference import analytics, latency_sketch
from inference.hours import Span, WindowSplit, window_split
from inference.metrics.counts import ErrorSums
from inference.models import HourlyLatency, HourlyRollup, RollupDirtyHour, RollupState
from registry.models import Task

PERCENTILES = (0.5, 0.95, 0.99)
# Enough for AUC to two decimals many times over, small enough for the page to stay fast.
MAX_SCORED_ROWS = 20_000

POSITIVE_OUTCOME = Q(outcome=1) | Q(outcome=True)
NEGATIVE_OUTCOME = Q(outcome=0) | Q(outcome=False)
SERVED = ~Q(role=Role.SHADOW)  # shadows answer nobody: they take no traffic share


class EpochSeconds(Func):
    """A timestamp as seconds since the epoch: cheaper to bring into Python than a datetime."""

    output_field = FloatField()

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        # date_part is double precision already; EXTRACT makes a numeric (slower, and the
        # same double once cast: both round the exact microseconds once).
        return self.as_sql(
            compiler, connection, template="date_part('epoch', %(expressions)s)", **extra
        )

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        # SQLite keeps aware datetimes as UTC text; julianday keeps the microseconds.
        return self.as_sql(
            compiler,
            connection,
            template="((julianday(%(expressions)s) - 2440587.5) * 86400.0)",
            **extra,
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
    # Regression: the labelled rows' error sums. Multiclass: (predicted, actual) -> rows.
    error_sums: ErrorSums = ErrorSums()
    cells: dict[tuple[Any, Any], int] = field(default_factory=dict)


@dataclass(frozen=True)
class Scored:
    """Labelled rows of one member, newest first, for the score-based metrics."""

    y: list[int] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    times: list[float] = field(default_factory=list)  # seconds since the epoch (UTC)
    request_ids: list[str] = field(default_factory=list)
    truncated: bool = False

    @cached_property
    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(labels, scores) as numpy arrays, made once for every metric and test that
        reads them (each made its own from the lists: 20,000 floats each time)."""
        return np.asarray(self.y, dtype=int), np.asarray(self.scores, dtype=float)

    def __getstate__(self) -> dict[str, Any]:
        # The comparison is cached (pickled): the arrays are made again from the lists.
        state = dict(self.__dict__)
        state.pop("arrays", None)
        return state


def window_rows(model: type[Model], since: datetime | None, until: datetime) -> QuerySet:
    rows = model.objects.filter(created_at__lte=until)
    if since is not None:
        rows = rows.filter(created_at__gte=since)
    return rows.order_by()  # no ORDER BY in aggregates


def spans_filter(spans: Sequence[Span]) -> Q:
    """created_at inside any of the spans (an OR of ranges on the created_at index)."""
    if not spans:
        raise ValueError("No span to read.")
    condition = Q()
    for span in spans:
        part = Q(created_at__lte=span.end) if span.end_included else Q(created_at__lt=span.end)
        if span.start is not None:
            part &= Q(created_at__gte=span.start)
        condition |= part
    return condition


def latency_bucket() -> Case:
    """The latency's histogram bucket, CEIL(LN(x) / LN(gamma)), as latency_sketch.bucket_of
    computes it; NULL (the zero bucket) for x <= 0, where LN is undefined. SQLite has LN and
    CEILING built in or registered by Django, so both databases run the same SQL."""
    return Case(
        When(latency_ms__gt=0, then=Ceil(Ln("latency_ms") / Value(latency_sketch.LN_GAMMA))),
        default=Value(None),
        output_field=FloatField(),
    )


def bucket_totals_query(
    model: type[Model], spans: Sequence[Span], kind: str, *, task: str = Task.BINARY
) -> QuerySet:
    """One scan of the spans, GROUP BY (model version, hour or day, prediction, outcome):
    what the hourly roll-ups store, and what the comparison reads raw.

    Grouping by the two labels instead of counting each confusion cell with its own JSON
    comparison halves the cost of the scan (bench/analytics); for a classifier they take a
    handful of values, so a few thousand small groups come back at most.

    A regression's predictions and outcomes are numbers, nearly all distinct: its rows are
    grouped by (model version, hour or day) only, with the sums of its errors instead."""
    rows = (
        model.objects.filter(spans_filter(spans))
        .order_by()
        .annotate(bucket=Trunc("created_at", kind, tzinfo=UTC))  # charts bucket in UTC
    )
    if task == Task.REGRESSION:
        rows = rows.values("model_version_id", "bucket")
    else:
        rows = rows.values("model_version_id", "bucket", "prediction", "outcome")
    rows = rows.annotate(
        requests=Count("id"),
        served=Count("id", filter=SERVED),
        scored=Count("score"),
        score_sum=Sum("score"),
        score_squares=Sum(F("score") * F("score")),
        fallbacks=Count("id", filter=Q(fallback=True)),
        errors=Count("id", filter=~Q(error="")),
    )
    if task == Task.REGRESSION:
        rows = rows.annotate(**error_sums_aggregates())
    return rows.order_by()


ERROR_FIELDS = (
    "error_rows",
    "error_sum",
    "abs_error_sum",
    "squared_error_sum",
    "actual_sum",
    "actual_squares",
    "ape_sum",
    "ape_rows",
)


def error_sums_aggregates() -> dict[str, Any]:
    """The sums of a regression's errors over its labelled rows (error = score − outcome;
    a regression's score is its prediction), computed in SQL. The JSON outcome is cast to
    a float: jsonb -> double precision on PostgreSQL, CAST(text AS REAL) on SQLite."""
    actual = Cast("outcome", FloatField())
    error = F("score") - actual
    labelled = Q(outcome__isnull=False, score__isnull=False)
    nonzero = labelled & ~Q(outcome=0)
    return {
        "error_rows": Count("id", filter=labelled),
        "error_sum": Sum(error, filter=labelled),
        "abs_error_sum": Sum(Abs(error), filter=labelled),
        "squared_error_sum": Sum(error * error, filter=labelled),
        "actual_sum": Sum(actual, filter=labelled),
        "actual_squares": Sum(actual * actual, filter=labelled),
        "ape_sum": Sum(Abs(error) / Abs(actual), filter=nonzero),
        "ape_rows": Count("id", filter=nonzero),
    }


def latency_counts_query(
    model: type[Model], spans: Sequence[Span], *, per_hour: bool = False
) -> QuerySet:
    """(model version, [hour,] latency bucket, rows): the spans' latency histograms.

    A query of its own rather than one more key of the GROUP BY above: split by labels
    and buckets, the groups multiply tenfold, and each costs more to bring into Python
    than the second scan costs the database."""
    rows = (
        model.objects.filter(spans_filter(spans))
        .order_by()
        .annotate(latency_bucket=latency_bucket())
    )
    keys = ["model_version_id", "latency_bucket"]
    if per_hour:
        rows = rows.annotate(bucket=Trunc("created_at", "hour", tzinfo=UTC))
        keys.append("bucket")
    return rows.values(*keys).annotate(rows=Count("id")).order_by().values_list(*keys, "rows")


ADDITIVE = ("requests", "served", "scored", "score_sum", "score_squares", "fallbacks", "errors")
_SUMMED = (*ADDITIVE, "positives", "labelled", "tp", "fp", "tn", "fn")


def _label(value: Any) -> int | None:
    """A prediction or outcome stored as JSON (1, true, "1") as 0/1; anything else None."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float) and value in (0, 1):
        return int(value)
    if isinstance(value, str) and value.strip() in ("0", "1"):
        return int(value.strip())
    return None


def _cell_key(value: Any) -> Any:
    # A class label as a dict key: JSON scalars as they are, anything else as its JSON text.
    return value if isinstance(value, str | int | float | bool) else repr(value)


def _add_errors(total: dict[Any, float], row: dict[str, Any]) -> None:
    for key in ERROR_FIELDS:
        total[key] = total.get(key, 0) + (row[key] or 0)
    total["labelled"] += row["error_rows"]


def _add_cell(total: dict[Any, float], row: dict[str, Any], n: int) -> None:
    """Per (predicted, actual) class: a multiclass model's confusion counts."""
    if row.get("prediction") is not None:
        cell = ("cell", _cell_key(row["prediction"]), _cell_key(row["outcome"]))
        total[cell] = total.get(cell, 0) + n


def _add_group(total: dict[Any, float], row: dict[str, Any]) -> None:
    for key in ADDITIVE:
        total[key] += row[key] or 0
    if row.get("error_rows"):  # a regression's (version, bucket) group
        _add_errors(total, row)
        return
    predicted, actual = _label(row.get("prediction")), _label(row.get("outcome"))
    n = row["requests"]
    if predicted == 1:
        total["positives"] += n
    if row.get("outcome") is not None:
        total["labelled"] += n
        _add_cell(total, row, n)
    if predicted is not None and actual is not None:
        cell = {(1, 1): "tp", (1, 0): "fp", (0, 0): "tn", (0, 1): "fn"}[(predicted, actual)]
        total[cell] += n


def rolled_split(group_id: int, since: datetime | None, until: datetime) -> WindowSplit:
    """Which hours of the window to read from the group's roll-ups, and what to read raw."""
    # Dirty hours before the roll-up rows: an hour that a refresh cleans in between is then
    # read raw (still right), never taken from roll-up rows read before it rewrote them.
    dirty = list(RollupDirtyHour.objects.filter(group_id=group_id).values_list("hour", flat=True))
    rolled_until = (
        RollupState.objects.filter(group_id=group_id).values_list("rolled_until", flat=True).first()
    )
    return window_split(since, until, rolled_until, dirty)


def _rolled_hours(rows: QuerySet, split: WindowSplit) -> QuerySet:
    rows = rows.filter(hour__lt=split.rolled_to)
    if split.rolled_from is not None:
        rows = rows.filter(hour__gte=split.rolled_from)
    if split.skipped:
        rows = rows.exclude(hour__in=split.skipped)
    return rows.order_by()


def rollup_totals_query(group_id: int, split: WindowSplit, kind: str) -> QuerySet:
    """The clean rolled hours' roll-ups summed in SQL per (version, hour or day, prediction,
    outcome): a few dozen rows for a week instead of two thousand."""
    assert split.rolled_to is not None
    return (
        _rolled_hours(HourlyRollup.objects.filter(group_id=group_id), split)
        .annotate(bucket=Trunc("hour", kind, tzinfo=UTC))
        .values("model_version_id", "bucket", "prediction", "outcome")
        .annotate(**{f"sum_{name}": Sum(name) for name in (*ADDITIVE, *ERROR_FIELDS)})
        .order_by()
    )


def rollup_histograms_query(group_id: int, split: WindowSplit) -> QuerySet:
    assert split.rolled_to is not None
    return _rolled_hours(HourlyLatency.objects.filter(group_id=group_id), split).values_list(
        "model_version_id", "histogram"
    )


def member_totals(
    model: type[Model],
    since: datetime | None,
    until: datetime,
    kind: str,
    *,
    group_id: int | None = None,
    task: str = Task.BINARY,
) -> tuple[dict[int, Totals], dict[tuple[int, datetime], dict[str, Any]]]:
    """(totals per model version, summed rows per (version, bucket) for the time series).

    With a group_id, the clean rolled-up hours come from the group's roll-ups; without,
    the whole window is read raw."""
    split = (
        rolled_split(group_id, since, until)
        if group_id is not None
        else window_split(since, until, None, ())
    )
    buckets: dict[tuple[int, datetime], dict[str, float]] = defaultdict(
        lambda: dict.fromkeys(_SUMMED, 0)
    )
    histograms: dict[int, latency_sketch.Histogram] = defaultdict(dict)
    if group_id is not None and split.rolled_to is not None:
        _add_rolled(buckets, histograms, group_id, split, kind)
    for row in bucket_totals_query(model, split.raw, kind, task=task):
        _add_group(buckets[(row["model_version_id"], row["bucket"])], row)
    for version_id, index, rows in latency_counts_query(model, split.raw):
        histogram = histograms[version_id]
        key = latency_sketch.bucket_key(index)
        histogram[key] = histogram.get(key, 0) + rows

    sums: dict[int, dict[str, float]] = defaultdict(lambda: dict.fromkeys(_SUMMED, 0))
    for (version_id, _), bucket_total in buckets.items():
        total = sums[version_id]
        for key, value in bucket_total.items():
            total[key] = total.get(key, 0) + value
    totals = {
        version_id: _totals(total, histograms[version_id]) for version_id, total in sums.items()
    }
    return totals, dict(buckets)


def _add_rolled(
    buckets: dict[tuple[int, datetime], dict[str, float]],
    histograms: dict[int, latency_sketch.Histogram],
    group_id: int,
    split: WindowSplit,
    kind: str,
) -> None:
    for row in rollup_totals_query(group_id, split, kind):
        row.update({name: row[f"sum_{name}"] for name in (*ADDITIVE, *ERROR_FIELDS)})
        _add_group(buckets[(row["model_version_id"], row["bucket"])], row)
    hourly: dict[int, list[dict[str, int]]] = defaultdict(list)
    for version_id, histogram in rollup_histograms(group_id, split):
        hourly[version_id].append(histogram)
    for version_id, histogram_list in hourly.items():
        latency_sketch.histogram_add(
            histograms[version_id], latency_sketch.histograms_sum(histogram_list)
        )


def rollup_histograms(group_id: int, split: WindowSplit) -> list[tuple[int, dict[str, int]]]:
    """The rolled hours' latency histograms, one per member and hour (168 a member for a
    week). On PostgreSQL read as text and decoded by orjson: half the time of the ORM's
    jsonb decoding, and less than adding them up in SQL (jsonb_each, bench/analytics)."""
    query = rollup_histograms_query(group_id, split)
    if connection.vendor != "postgresql":
        return list(query)
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT version_id, histogram::text FROM ({sql}) AS rolled (version_id, histogram)",
            params,
        )
        return [(version_id, orjson.loads(text)) for version_id, text in cursor.fetchall()]


def _cells(total: dict[Any, float]) -> dict[tuple[Any, Any], int]:
    return {
        (key[1], key[2]): int(n)
        for key, n in total.items()
        if isinstance(key, tuple) and key[0] == "cell" and n
    }


def _totals(total: dict[Any, float], histogram: latency_sketch.Histogram) -> Totals:
    n = int(total["scored"])
    mean = total["score_sum"] / n if n else None
    variance = None
    if n > 1 and mean is not None:
        variance = max(0.0, (total["score_squares"] - n * mean * mean) / (n - 1))
    return Totals(
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
        latency=latency_sketch.percentiles(histogram, PERCENTILES),
        error_sums=ErrorSums.from_totals(total),
        cells=_cells(total),
    )


def member_rows(
    model: type[Model], since: datetime | None, until: datetime, version_id: int
) -> QuerySet:
    return window_rows(model, since, until).filter(model_version_id=version_id)


def _outcome_label() -> Case:
    """0/1 computed in SQL: decoding a JSON value per row in Python costs more than the
    query. Only for rows already filtered to a 0/1 outcome (POSITIVE | NEGATIVE): what is
    not positive is then negative, and the two jsonb comparisons of a second WHEN per row
    are saved (a quarter of the labelled rows' query at 10 million rows, bench/analytics)."""
    return Case(
        When(POSITIVE_OUTCOME, then=Value(1)), default=Value(0), output_field=IntegerField()
    )


def scored_rows_query(
    model: type[Model],
    version_id: int,
    since: datetime | None,
    until: datetime,
    *,
    with_times: bool = True,
    with_ids: bool = False,
) -> QuerySet:
    columns = (
        ["score", "label"]
        + (["epoch"] if with_times else [])
        + (["request_id"] if with_ids else [])
    )
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
    model: type[Model],
    version_id: int,
    since: datetime | None,
    until: datetime,
    *,
    cap: int = MAX_SCORED_ROWS,
    with_times: bool = True,
    with_ids: bool = False,
) -> Scored:
    """The latest labelled (0/1 outcome) scored rows of a member, newest first."""
    query = scored_rows_query(
        model, version_id, since, until, with_times=with_times, with_ids=with_ids
    )
    sql, params = query[: cap + 1].query.sql_with_params()
    if connection.vendor == "postgresql":
        return _scored_arrays(sql, params, cap, with_times=with_times, with_ids=with_ids)
    # The ORM writes the SQL; the rows are read in chunks straight off the cursor, skipping
    # Django's per-value converters (float(), int()), which cost more than the query here.
    # Memory stays bounded by the cap.
    scored = Scored()
    count = 0
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while chunk := cursor.fetchmany(5000):
            for row in chunk:
                if count == cap:
                    return Scored(
                        scored.y, scored.scores, scored.times, scored.request_ids, truncated=True
                    )
                count += 1
                scored.scores.append(float(row[0]))
                scored.y.append(int(row[1]))
                if with_times:
                    scored.times.append(float(row[2]))
                if with_ids:
                    scored.request_ids.append(str(uuid.UUID(str(row[-1]))))
    return scored


def _scored_arrays(
    sql: str, params: Sequence[Any], cap: int, *, with_times: bool, with_ids: bool
) -> Scored:
    """PostgreSQL: the rows come back as one row of arrays (array_agg over the ordered,
    limited query), which the driver decodes in C: a Python loop over 20,000 rows cost
    more than the index-only scan that finds them (bench/analytics).

    The arrays come back in binary: 8 bytes a float instead of its text, which the server
    spends longer printing and the driver parsing than the scan takes (bench/analytics:
    5 ms a member, 15 with the times). The same doubles: PostgreSQL prints the shortest
    text that reads back exactly."""
    names = ["score", "label"] + (["epoch"] if with_times else []) + (["id"] if with_ids else [])
    # The aggregate reads the LIMITed subquery's rows in its order, the same for every
    # array: element i of each is row i, newest first.
    arrays = [f"array_agg({name}{'::text' if name == 'id' else ''})" for name in names]
    query = f"SELECT count(*), {', '.join(arrays)} FROM ({sql}) AS scored ({', '.join(names)})"
    connection.ensure_connection()
    # Django's cursors bind parameters on the client, which cannot ask for binary results:
    # a plain psycopg cursor on the same connection (and transaction) binds them on the
    # server. Never prepared: a prepared statement's generic plan would not prune the
    # partitions by the window's dates.
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(query, params, prepare=False, binary=True)
        count, *columns = cursor.fetchone()
    if not count:
        return Scored()
    columns = [column[:cap] for column in columns]
    scores, y = columns[0], columns[1]
    return Scored(
        y=y,
        scores=scores,
        times=columns[2] if with_times else [],
        request_ids=columns[-1] if with_ids else [],
        truncated=count > cap,
    )


# Members read side by side, each on a connection of its own, at most: a group has a
# handful; this bounds the connections one comparison opens whatever it has.
MAX_CONCURRENT_READS = 4


@contextmanager
def scored_rows_reading(
    model: type[Model],
    version_ids: Sequence[int],
    since: datetime | None,
    until: datetime,
    *,
    concurrent: bool = False,
    with_times: bool = True,
    with_ids: bool = False,
) -> Iterator[Callable[[Sequence[int]], dict[int, Scored]]]:
    """Yields a function that returns scored_rows of the versions asked for (some or all
    of `version_ids`), reading them on this connection one after the other.

    With `concurrent` (analytics_reads says when it is safe), every version is read at
    once, each in a thread on a connection of its own, and the function waits for them:
    meanwhile this connection does the caller's other queries (the totals). Each read is
    one PostgreSQL backend's work (~40 ms a member at 10 million rows; a parallel plan was
    slower), so on two cores the members and the totals take about the time of the
    slowest of them. A new connection costs its backend ~15 ms of CPU (starting, and
    loading the catalog for its first query); keeping the first member on this connection
    saved that CPU but was slower on a quiet machine (7-day page 176 against 152 ms,
    bench/analytics), where the second core is free."""
    options = {"with_times": with_times, "with_ids": with_ids}
    apart = list(version_ids) if concurrent else []
    with ThreadPoolExecutor(max_workers=max(1, min(len(apart), MAX_CONCURRENT_READS))) as pool:
        pending = {
            v: pool.submit(_scored_rows_apart, model, v, since, until, options) for v in apart
        }

        def read(wanted: Sequence[int]) -> dict[int, Scored]:
            return {
                v: pending[v].result()
                if v in pending
                else scored_rows(model, v, since, until, **options)
                for v in wanted
            }

        yield read


def _scored_rows_apart(
    model: type[Model],
    version_id: int,
    since: datetime | None,
    until: datetime,
    options: dict[str, bool],
) -> Scored:
    """scored_rows on this thread's own connection, with the same session settings, then
    closed: Django closes only the request thread's connections when a request ends."""
    try:
        with analytics_reads():
            return scored_rows(model, version_id, since, until, **options)
    finally:
        connection.close()


BUCKET_SECONDS = {"hour": 3600, "day": 86400}


def bucket_key(epoch: float, kind: str) -> int:
    return int(epoch // BUCKET_SECONDS[kind])


@contextmanager
def analytics_reads() -> Iterator[bool]:
    """On PostgreSQL, switch off JIT for these reads (the planner's cost estimate over a big
    table triggers JIT compilation, 50-130 ms for queries that then run in about that) and
    parallel workers (where the planner chose a Gather over the labelled rows' scan, it
    took twice the scan's time: starting workers costs more than these rows), and give
    their sorts enough memory not to spill (measured in bench/analytics).

    Yields whether the reads may also run on other connections (scored_rows_reading):
    on PostgreSQL, outside any caller's transaction (whose rows no other connection sees:
    a test's, a service's), and at READ COMMITTED, where each statement reads a snapshot
    of its own anyway, so statements on two connections see no less consistent a picture
    than two on one."""
    if connection.vendor != "postgresql":
        yield False
        return
    shared = not connection.in_atomic_block and _read_committed()
    with transaction.atomic():
        with connection.cursor() as cursor:
            # One round trip. work_mem: the GROUP BY and the labelled rows' sort fit in
            # memory instead of spilling to disk.
            cursor.execute(
                "SET LOCAL jit = off; SET LOCAL max_parallel_workers_per_gather = 0; "
                "SET LOCAL work_mem = '32MB'"
            )
        yield shared


def _read_committed() -> bool:
    connection.ensure_connection()
    return connection.isolation_level == psycopg.IsolationLevel.READ_COMMITTED


@dataclass(frozen=True)
class TaskRows:
    """Labelled rows of one regression or multiclass member, newest first: what the
    row-based numbers need (median error, the tests, the bootstraps, log loss, top-k)."""

    predicted: list[Any] = field(default_factory=list)  # regression: floats; multiclass: labels
    actual: list[Any] = field(default_factory=list)
    probabilities: list[dict[str, float]] = field(default_factory=list)  # multiclass, if logged
    times: list[float] = field(default_factory=list)
    request_ids: list[str] = field(default_factory=list)
    truncated: bool = False

    def __len__(self) -> int:
        return len(self.actual)


def _task_row(task: str, prediction: Any, score: Any, outcome: Any) -> tuple[Any, Any] | None:
    if task != Task.REGRESSION:
        return (prediction, outcome) if prediction is not None else None
    try:
        return float(score), float(outcome)
    except (TypeError, ValueError):
        return None


def task_rows(
    model: type[Model],
    version_id: int,
    since: datetime | None,
    until: datetime,
    *,
    task: str,
    cap: int = MAX_SCORED_ROWS,
) -> TaskRows:
    """The latest `cap` labelled rows of a member (a regression's with a score)."""
    rows = member_rows(model, since, until, version_id).filter(outcome__isnull=False)
    if task == Task.REGRESSION:
        rows = rows.filter(score__isnull=False)
    query = (
        rows.annotate(epoch=EpochSeconds("created_at"))
        .order_by("-created_at", "-id")
        .values_list("prediction", "score", "outcome", "probabilities", "epoch", "request_id")
    )
    out = TaskRows()
    with_probabilities, truncated = True, False
    for count, (prediction, score, outcome, probabilities, epoch, request_id) in enumerate(
        query[: cap + 1].iterator(chunk_size=5000)
    ):
        if count == cap:
            truncated = True
            break
        pair = _task_row(task, prediction, score, outcome)
        if pair is None:
            continue
        out.predicted.append(pair[0])
        out.actual.append(pair[1])
        # Log loss and top-k need every row's probabilities: rows logged before they were
        # kept leave them out for the member.
        with_probabilities = with_probabilities and isinstance(probabilities, dict)
        out.probabilities.append(probabilities if isinstance(probabilities, dict) else {})
        out.times.append(float(epoch))
        out.request_ids.append(str(request_id))
    if not with_probabilities:
        out.probabilities.clear()
    return TaskRows(**{**out.__dict__, "truncated": truncated})
