"""Benchmark: the 7-day comparison (from hourly roll-ups), the roll-up refresh, and the
inference browser's first page over 1,000,000 rows of a group's table on PostgreSQL. A
script, not a test.

    HUB_VAR_DIR=/tmp/hubvar_bench DATABASE_URL=postgres://postgres@127.0.0.1:5432/hub_bench \\
        .venv/bin/python bench/analytics/bench_comparison.py [--rows 1000000] [--repeat 7] [--reload]

It makes (once) a group "Bench Analytics" with a champion (90%) and a challenger (10%),
fills its table by COPY with rows spread over 30 days (80% labelled, SHAP values on each),
ANALYZEs it, then times each operation (median and best of --repeat warm runs) and prints
EXPLAIN (ANALYZE, BUFFERS) of every query involved. The group's roll-ups are rebuilt from
scratch on every run (its first build is timed), as beat would have kept them; the
comparison's present is the newest row. Run migrations on that database first
(`manage.py migrate`).
"""

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")

import django

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.db.models import F  # noqa: E402
from django.http import QueryDict  # noqa: E402
from django.utils import timezone  # noqa: E402

from groups.models import Membership, ModelGroup  # noqa: E402
from inference import aggregates, browser, comparison, latency_sketch  # noqa: E402
from inference.hours import HOUR, Span, floor_hour  # noqa: E402
from inference.models import RollupState  # noqa: E402
from inference.rollup import rollup_mark_written, rollup_refresh, rollup_reset  # noqa: E402
from inference.tables import inference_log_model  # noqa: E402
from registry.models import ModelVersion, RegisteredModel  # noqa: E402

FEATURES = [
    "income",
    "debt_ratio",
    "age",
    "credit_history_years",
    "open_accounts",
    "delinquencies",
    "loan_amount",
    "employment_years",
]
GROUP_NAME = "Bench Analytics"
COLUMNS = (
    "request_id",
    "model_version_id",
    "role",
    "routing_key",
    "inputs",
    "prediction",
    "score",
    "explanation",
    "base_value",
    "latency_ms",
    "fallback",
    "error",
    "created_at",
    "outcome",
    "outcome_at",
)


def bench_group() -> tuple[ModelGroup, list[ModelVersion]]:
    group = ModelGroup.objects.filter(name=GROUP_NAME).first()
    if group is not None:
        versions = [m.model_version for m in group.memberships.order_by("-weight")]
        return group, versions
    with transaction.atomic():
        model, _ = RegisteredModel.objects.get_or_create(
            name="Bench Credit", defaults={"slug": "bench-credit"}
        )
        versions = [
            ModelVersion.objects.get_or_create(
                model=model,
                version=label,
                defaults={
                    "metadata": {"features": [{"name": f, "type": "number"} for f in FEATURES]}
                },
            )[0]
            for label in ("1.2", "1.3")
        ]
        group = ModelGroup.objects.create(
            name=GROUP_NAME, slug="bench-analytics", features=FEATURES
        )
        Membership.objects.create(
            group=group, model_version=versions[0], role="champion", weight=90
        )
        Membership.objects.create(
            group=group, model_version=versions[1], role="challenger", weight=10
        )
    group.refresh_from_db()
    return group, versions


def load(group: ModelGroup, versions: list[ModelVersion], rows: int, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    now = timezone.now()
    table = connection.ops.quote_name(group.table_name)
    started = time.perf_counter()
    batch = 100_000
    with connection.cursor() as django_cursor:
        raw = django_cursor.cursor  # psycopg 3's own cursor, for COPY
        with raw.copy(f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for offset in range(0, rows, batch):
                n = min(batch, rows - offset)
                challenger = rng.random(n) < 0.10
                y = (rng.random(n) < 0.3).astype(int)
                skill = np.where(challenger, 1.6, 1.2)
                score = np.round(
                    1 / (1 + np.exp(-(skill * (y * 2 - 1) + rng.normal(0, 1.2, n)))), 4
                )
                labelled = rng.random(n) < 0.8
                # An inference log is append-only: rows arrive in time order, oldest first.
                ages = (
                    np.sort(rng.random(n))[::-1] * 30 * 86400 / (rows / n)
                    + (rows - offset - n) / rows * 30 * 86400
                )
                latency = np.round(rng.gamma(2.0, 2.5, n), 3)
                income = rng.integers(10_000, 150_000, n)
                for i in range(n):
                    created = now - timedelta(seconds=float(ages[i]))
                    inputs = {
                        "income": int(income[i]),
                        "debt_ratio": round(float(rng.random()), 3),
                        "age": int(20 + i % 60),
                        "credit_history_years": i % 30,
                        "open_accounts": i % 12,
                        "delinquencies": i % 4,
                        "loan_amount": int(income[i] // 3),
                        "employment_years": i % 40,
                    }
                    explanation = {
                        f: round(float(v), 5)
                        for f, v in zip(FEATURES, rng.normal(0, 0.3, 8), strict=True)
                    }
                    copy.write_row(
                        (
                            str(uuid.uuid4()),
                            versions[1].pk if challenger[i] else versions[0].pk,
                            "challenger" if challenger[i] else "champion",
                            f"applicant-{i % 50_000}",
                            json.dumps(inputs),
                            json.dumps(int(score[i] >= 0.5)),
                            float(score[i]),
                            json.dumps(explanation),
                            -0.8,
                            float(latency[i]),
                            False,
                            "",
                            created,
                            json.dumps(int(y[i])) if labelled[i] else None,
                            created + timedelta(hours=1) if labelled[i] else None,
                        )
                    )
                print(
                    f"  loaded {offset + n:,} rows ({time.perf_counter() - started:.0f} s)",
                    flush=True,
                )
        django_cursor.execute(f"ANALYZE {table}")
    print(f"Loaded {rows:,} rows in {time.perf_counter() - started:.1f} s")


def all_visible(table_name: str) -> float:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relallvisible::float / greatest(relpages, 1) FROM pg_class WHERE relname = %s",
            [table_name],
        )
        return cursor.fetchone()[0]


def timed(label: str, fn, repeat: int) -> None:
    fn()  # warm: connection, plans, page cache
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - started) * 1000)
    print(f"{label:<58} median {statistics.median(runs):7.1f} ms   best {min(runs):7.1f} ms")


def explain(label: str, queryset) -> None:
    print(f"\n--- EXPLAIN ANALYZE: {label}")
    with aggregates.analytics_reads():  # the same session settings as the page and the API
        print(queryset.explain(analyze=True, buffers=True))


def in_session(fn):
    def run():
        with aggregates.analytics_reads():
            return fn()

    return run


def once(label: str, fn):
    started = time.perf_counter()
    result = fn()
    print(f"{label:<58} once   {(time.perf_counter() - started) * 1000:7.1f} ms")
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--reload", action="store_true", help="empty the table and load again")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("Set DATABASE_URL to a PostgreSQL database: this benchmark is about PostgreSQL.")

    group, versions = bench_group()
    model = inference_log_model(group.table_name)
    if args.reload:
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {connection.ops.quote_name(group.table_name)}")
    have = model.objects.count()
    if have < args.rows:
        load(group, versions, args.rows - have)
    total = model.objects.count()
    # The log's present is its newest row: loaded a while ago, the table would otherwise end
    # hours before "now", and the part of the window read raw would be empty.
    present = model.objects.order_by("-created_at").values_list("created_at", flat=True).first()
    present += timedelta(seconds=1)
    since = present - timedelta(days=7)
    in_window = model.objects.filter(created_at__gte=since).count()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('shared_buffers'), current_setting('work_mem'), pg_size_pretty(pg_total_relation_size(%s))",
            [group.table_name],
        )
        shared_buffers, work_mem, size = cursor.fetchone()
    print(
        f"\nTable {group.table_name}: {total:,} rows ({size} with indexes), {in_window:,} in the 7 days to its newest row"
    )
    print(
        f"PostgreSQL shared_buffers={shared_buffers}, work_mem={work_mem} (the comparison sets jit=off, work_mem=32MB locally)"
    )
    print(f"All-visible pages (visibility map): {all_visible(group.table_name):.0%}")
    print(f"Load average before timing: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs\n")

    def compare(*, with_series: bool) -> None:
        comparison.group_comparison(
            group=group, window="7d", with_series=with_series, use_cache=False, now=present
        )

    def first_page(query: str) -> None:
        filters = browser.parse_filters(QueryDict(query), group=group)
        browser.inference_page(group=group, filters=filters)

    # Beat never ran: the whole window is read raw (and the roll-ups rebuilt from scratch).
    rollup_reset(group=group)
    timed(
        "comparison 7d, API, without roll-ups (beat never ran)",
        lambda: compare(with_series=False),
        min(args.repeat, 3),
    )
    built = once(
        "roll-up: first build of the whole log (30 days)",
        lambda: rollup_refresh(group=group, now=present),
    )
    print(
        f"  {built.hours_read} hours, {built.rows_written:,} roll-up rows, rolled until {built.rolled_until:%Y-%m-%d %H:%M}"
    )

    def one_more_hour() -> None:
        # As when an hour has just closed: one hour to read and write.
        RollupState.objects.filter(group=group).update(rolled_until=F("rolled_until") - HOUR)
        rollup_refresh(group=group, now=present)

    timed("roll-up: incremental refresh (one newly closed hour)", one_more_hour, args.repeat)
    timed(
        "roll-up: refresh with nothing to do",
        lambda: rollup_refresh(group=group, now=present),
        args.repeat,
    )

    timed(
        "comparison 7d, API (no time series), computed",
        lambda: compare(with_series=False),
        args.repeat,
    )
    timed(
        "comparison 7d, page (with daily series), computed",
        lambda: compare(with_series=True),
        args.repeat,
    )
    timed(
        "comparison 7d, page, within the 10 s cache (polling)",
        lambda: comparison.group_comparison(group=group, window="7d"),
        args.repeat,
    )
    split = aggregates.rolled_split(group.pk, since, present)
    timed(
        "  roll-ups: dirty hours and state (the split)",
        in_session(lambda: aggregates.rolled_split(group.pk, since, present)),
        args.repeat,
    )
    timed(
        "  roll-ups: clean hours summed per (version, day, labels)",
        in_session(lambda: list(aggregates.rollup_totals_query(group.pk, split, "day"))),
        args.repeat,
    )
    timed(
        "  roll-ups: latency histograms read and added up",
        in_session(
            lambda: [
                latency_sketch.histogram_add({}, h)
                for _, h in aggregates.rollup_histograms_query(group.pk, split)
            ]
        ),
        args.repeat,
    )
    timed(
        "  raw rest of the window: GROUP BY over its edges",
        in_session(lambda: list(aggregates.bucket_totals_query(model, split.raw, "day"))),
        args.repeat,
    )
    timed(
        "  member totals (both parts, merged, percentiles)",
        in_session(
            lambda: aggregates.member_totals(model, since, present, "day", group_id=group.pk)
        ),
        args.repeat,
    )
    timed(
        "  labelled scores streamed (champion, capped 20k)",
        in_session(lambda: aggregates.scored_rows(model, versions[0].pk, since, present)),
        args.repeat,
    )
    timed(
        "  labelled scores streamed (challenger, capped 20k)",
        in_session(lambda: aggregates.scored_rows(model, versions[1].pk, since, present)),
        args.repeat,
    )

    # The labelled rows' index answers from the index alone on pages the visibility map
    # marks all-visible, which VACUUM (autovacuum) does; rows inserted or updated since
    # need a heap page each. Time both when the table has not been vacuumed yet.
    visible = all_visible(group.table_name)
    if visible < 0.9:
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('autovacuum')")
            print(
                f"\nOnly {visible:.0%} of the table's pages are all-visible (autovacuum={cursor.fetchone()[0]}):"
                " VACUUM, as autovacuum would, and again:"
            )
            started = time.perf_counter()
            cursor.execute(f"VACUUM (ANALYZE) {connection.ops.quote_name(group.table_name)}")
        print(
            f"  VACUUM (ANALYZE) took {time.perf_counter() - started:.1f} s; now {all_visible(group.table_name):.0%} all-visible"
        )
        timed(
            "comparison 7d, API (no time series), computed",
            lambda: compare(with_series=False),
            args.repeat,
        )
        timed(
            "comparison 7d, page (with daily series), computed",
            lambda: compare(with_series=True),
            args.repeat,
        )
        timed(
            "  labelled scores streamed (champion, capped 20k)",
            in_session(lambda: aggregates.scored_rows(model, versions[0].pk, since, present)),
            args.repeat,
        )
        timed(
            "  labelled scores streamed (challenger, capped 20k)",
            in_session(lambda: aggregates.scored_rows(model, versions[1].pk, since, present)),
            args.repeat,
        )
    print()

    # Feedback on old rows: 24 hours spread over the week are dirty until the next refresh.
    dirty = [floor_hour(present) - (7 * i + 5) * HOUR for i in range(24)]
    rollup_mark_written(group.pk, dirty)
    timed("comparison 7d, API, 24 dirty hours", lambda: compare(with_series=False), args.repeat)
    timed("comparison 7d, page, 24 dirty hours", lambda: compare(with_series=True), args.repeat)
    dirty_split = aggregates.rolled_split(group.pk, since, present)
    explain(
        "raw rest of the window with 24 dirty hours",
        aggregates.bucket_totals_query(model, dirty_split.raw, "day"),
    )
    cleaned = once(
        "roll-up: refresh of the 24 dirty hours", lambda: rollup_refresh(group=group, now=present)
    )
    print(f"  {cleaned.hours_read} hours written again")

    timed("browser first page (no filter)", lambda: first_page(""), args.repeat)
    timed(
        "browser first page (role=challenger, has_outcome=yes)",
        lambda: first_page("role=challenger&has_outcome=yes"),
        args.repeat,
    )
    timed(
        "browser first page (input=income > 140000)",
        lambda: first_page("input=income+>+140000"),
        args.repeat,
    )
    first = browser.inference_page(
        group=group, filters=browser.parse_filters(QueryDict(""), group=group)
    )
    timed(
        "browser second page (keyset cursor)",
        lambda: browser.inference_page(
            group=group,
            filters=browser.parse_filters(QueryDict(""), group=group),
            cursor=first.next_cursor,
        ),
        args.repeat,
    )

    explain(
        "roll-ups of the clean hours, summed per (version, day, labels), 7 days",
        aggregates.rollup_totals_query(group.pk, split, "day"),
    )
    explain(
        "latency histograms of the clean hours, 7 days",
        aggregates.rollup_histograms_query(group.pk, split),
    )
    explain(
        "raw rest of the window (its first and last hours)",
        aggregates.bucket_totals_query(model, split.raw, "day"),
    )
    last_hour = floor_hour(present) - 2 * HOUR
    explain(
        "refresh: one hour, GROUP BY (version, hour, labels, latency bucket)",
        aggregates.bucket_totals_query(model, [Span(last_hour, last_hour + HOUR)], "hour"),
    )
    explain(
        "labelled scores, champion, 7 days",
        aggregates.scored_rows_query(model, versions[0].pk, since, present)[:20_001],
    )
    explain(
        "labelled scores, challenger, 7 days",
        aggregates.scored_rows_query(model, versions[1].pk, since, present)[:20_001],
    )
    filters = browser.parse_filters(QueryDict(""), group=group)
    explain(
        "browser first page",
        filters.apply(browser.inference_rows(group)).order_by("-created_at", "-id")[:51],
    )
    filters = browser.parse_filters(QueryDict("input=income+>+140000"), group=group)
    explain(
        "browser first page, income > 140000",
        filters.apply(browser.inference_rows(group)).order_by("-created_at", "-id")[:51],
    )


if __name__ == "__main__":
    main()
