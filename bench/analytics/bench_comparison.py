"""Benchmark: the 7-day comparison and the inference browser's first page over 1,000,000
rows of a group's table on PostgreSQL. A script, not a test.

    HUB_VAR_DIR=/tmp/hubvar_bench DATABASE_URL=postgres://postgres@127.0.0.1:5432/hub_bench \\
        .venv/bin/python bench/analytics/bench_comparison.py [--rows 1000000] [--repeat 7] [--reload]

It makes (once) a group "Bench Analytics" with a champion (90%) and a challenger (10%),
fills its table by COPY with rows spread over 30 days (80% labelled, SHAP values on each),
ANALYZEs it, then times each operation (median and best of --repeat warm runs) and prints
EXPLAIN (ANALYZE, BUFFERS) of every query involved. Run migrations on that database first
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
from django.http import QueryDict  # noqa: E402
from django.utils import timezone  # noqa: E402

from groups.models import Membership, ModelGroup  # noqa: E402
from inference import aggregates, browser, comparison  # noqa: E402
from inference.tables import inference_log_model  # noqa: E402
from registry.models import ModelVersion, RegisteredModel  # noqa: E402

FEATURES = ["income", "debt_ratio", "age", "credit_history_years", "open_accounts",
            "delinquencies", "loan_amount", "employment_years"]
GROUP_NAME = "Bench Analytics"
COLUMNS = ("request_id", "model_version_id", "role", "routing_key", "inputs", "prediction", "score",
           "explanation", "base_value", "latency_ms", "fallback", "error", "created_at", "outcome", "outcome_at")


def bench_group() -> tuple[ModelGroup, list[ModelVersion]]:
    group = ModelGroup.objects.filter(name=GROUP_NAME).first()
    if group is not None:
        versions = [m.model_version for m in group.memberships.order_by("-weight")]
        return group, versions
    with transaction.atomic():
        model, _ = RegisteredModel.objects.get_or_create(name="Bench Credit", defaults={"slug": "bench-credit"})
        versions = [
            ModelVersion.objects.get_or_create(
                model=model, version=label,
                defaults={"metadata": {"features": [{"name": f, "type": "number"} for f in FEATURES]}},
            )[0]
            for label in ("1.2", "1.3")
        ]
        group = ModelGroup.objects.create(name=GROUP_NAME, slug="bench-analytics", features=FEATURES)
        Membership.objects.create(group=group, model_version=versions[0], role="champion", weight=90)
        Membership.objects.create(group=group, model_version=versions[1], role="challenger", weight=10)
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
                score = np.round(1 / (1 + np.exp(-(skill * (y * 2 - 1) + rng.normal(0, 1.2, n)))), 4)
                labelled = rng.random(n) < 0.8
                # An inference log is append-only: rows arrive in time order, oldest first.
                ages = np.sort(rng.random(n))[::-1] * 30 * 86400 / (rows / n) + (rows - offset - n) / rows * 30 * 86400
                latency = np.round(rng.gamma(2.0, 2.5, n), 3)
                income = rng.integers(10_000, 150_000, n)
                for i in range(n):
                    created = now - timedelta(seconds=float(ages[i]))
                    inputs = {"income": int(income[i]), "debt_ratio": round(float(rng.random()), 3), "age": int(20 + i % 60),
                              "credit_history_years": i % 30, "open_accounts": i % 12, "delinquencies": i % 4,
                              "loan_amount": int(income[i] // 3), "employment_years": i % 40}
                    explanation = {f: round(float(v), 5) for f, v in zip(FEATURES, rng.normal(0, 0.3, 8), strict=True)}
                    copy.write_row((
                        str(uuid.uuid4()), versions[1].pk if challenger[i] else versions[0].pk,
                        "challenger" if challenger[i] else "champion", f"applicant-{i % 50_000}",
                        json.dumps(inputs), json.dumps(int(score[i] >= 0.5)), float(score[i]),
                        json.dumps(explanation), -0.8, float(latency[i]), False, "", created,
                        json.dumps(int(y[i])) if labelled[i] else None,
                        created + timedelta(hours=1) if labelled[i] else None,
                    ))
                print(f"  loaded {offset + n:,} rows ({time.perf_counter() - started:.0f} s)", flush=True)
        django_cursor.execute(f"ANALYZE {table}")
    print(f"Loaded {rows:,} rows in {time.perf_counter() - started:.1f} s")


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
    now = timezone.now()
    since = now - timedelta(days=7)
    in_window = model.objects.filter(created_at__gte=since).count()
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('shared_buffers'), current_setting('work_mem'), pg_size_pretty(pg_total_relation_size(%s))", [group.table_name])
        shared_buffers, work_mem, size = cursor.fetchone()
    print(f"\nTable {group.table_name}: {total:,} rows ({size} with indexes), {in_window:,} in the last 7 days")
    print(f"PostgreSQL shared_buffers={shared_buffers}, work_mem={work_mem} (the comparison sets jit=off, work_mem=32MB locally)")
    print(f"Load average before timing: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs\n")

    def first_page(query: str) -> None:
        filters = browser.parse_filters(QueryDict(query), group=group)
        browser.inference_page(group=group, filters=filters)

    timed("comparison 7d, API (no time series), computed", lambda: comparison.group_comparison(group=group, window="7d", with_series=False, use_cache=False), args.repeat)
    timed("comparison 7d, page (with daily series), computed", lambda: comparison.group_comparison(group=group, window="7d", use_cache=False), args.repeat)
    timed("comparison 7d, page, within the 10 s cache (polling)", lambda: comparison.group_comparison(group=group, window="7d"), args.repeat)
    timed("  SQL one scan: GROUP BY (version, day, labels)", in_session(lambda: list(aggregates.bucket_totals_query(model, since, now, "day"))), args.repeat)
    timed("  latency percentiles (both members, one GROUP BY)", in_session(lambda: aggregates.latency_percentiles_by_member(model, since, now)), args.repeat)
    timed("  labelled scores streamed (champion, capped 20k)", in_session(lambda: aggregates.scored_rows(model, versions[0].pk, since, now)), args.repeat)
    timed("browser first page (no filter)", lambda: first_page(""), args.repeat)
    timed("browser first page (role=challenger, has_outcome=yes)", lambda: first_page("role=challenger&has_outcome=yes"), args.repeat)
    timed("browser first page (input=income > 140000)", lambda: first_page("input=income+>+140000"), args.repeat)
    first = browser.inference_page(group=group, filters=browser.parse_filters(QueryDict(""), group=group))
    timed("browser second page (keyset cursor)", lambda: browser.inference_page(
        group=group, filters=browser.parse_filters(QueryDict(""), group=group), cursor=first.next_cursor), args.repeat)

    explain("one scan, GROUP BY (version, day, prediction, outcome), 7 days", aggregates.bucket_totals_query(model, since, now, "day"))
    explain("latency percentiles, both members, 7 days", aggregates.window_rows(model, since, now).values("model_version_id").annotate(
        **{f"p{i}": aggregates.PercentileCont("latency_ms", q) for i, q in enumerate(aggregates.PERCENTILES)}))
    explain("labelled scores, champion, 7 days", aggregates.scored_rows_query(model, versions[0].pk, since, now)[:20_001])
    filters = browser.parse_filters(QueryDict(""), group=group)
    explain("browser first page", filters.apply(browser.inference_rows(group)).order_by("-created_at", "-id")[:51])
    filters = browser.parse_filters(QueryDict("input=income+>+140000"), group=group)
    explain("browser first page, income > 140000", filters.apply(browser.inference_rows(group)).order_by("-created_at", "-id")[:51])


if __name__ == "__main__":
    main()
