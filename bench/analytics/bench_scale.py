"""Benchmark (a script, not a test): a group's log of 10,000,000 rows over 12 months,
partitioned by month on PostgreSQL: the 7-day comparison (API and page), the inference
browser's first page, and retention of the 12 months down to 6.

    createdb -h 127.0.0.1 -U postgres hub_bench_scale
    HUB_VAR_DIR=/tmp/hubvar_bench_scale DATABASE_URL=postgres://postgres@127.0.0.1:5432/hub_bench_scale \\
        .venv/bin/python bench/analytics/bench_scale.py [--rows 10000000] [--repeat 7] [--reload] [--retention]

It migrates, makes (once) a group "Bench Scale" (champion 90%, challenger 10%; its table
partitioned by month as every group's), and loads the rows month by month with one
`INSERT ... SELECT ... FROM generate_series` each (no Python per row): time-ordered, 80%
labelled, SHAP values on each row; then VACUUM (ANALYZE), as autovacuum would. Then it
builds the hourly roll-ups (as beat keeps them) and times, through the real URLs (a staff
session, Django's test client):
- GET /api/v1/groups/<slug>/comparison?window=7d   (the API)
- GET /groups/<slug>/compare/?window=7d             (the page, with its daily series)
- GET /groups/<slug>/inferences/                    (the browser's first page)
each the median and best of --repeat warm runs, and the median CPU time of this process
and of its PostgreSQL backends (its own, and those of the connections the comparison opens
for its members; from /proc: the wall times swing with the machine's load, the CPU times
don't), with the comparison's 10-second cache
bypassed (a new `now` each run is not needed: the cache is cleared between runs).
With --retention it then applies a 6-month policy: the oldest month archived to Parquet
(timed on its own), the other expired months dropped; it prints the time and the size
freed. Retention removes months: the next run loads them again.
"""

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1")

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402

from groups.models import Membership, ModelGroup  # noqa: E402
from inference import partitions, tables  # noqa: E402
from inference.models import LogRetention  # noqa: E402
from inference.retention import partition_retire, retention_apply  # noqa: E402
from inference.rollup import rollup_refresh, rollup_reset  # noqa: E402
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
GROUP_NAME = "Bench Scale"
MONTHS = 12


def bench_group() -> tuple[ModelGroup, list[ModelVersion]]:
    group = ModelGroup.objects.filter(name=GROUP_NAME).first()
    if group is not None:
        return group, [m.model_version for m in group.memberships.order_by("-weight")]
    with transaction.atomic():
        model, _ = RegisteredModel.objects.get_or_create(
            name="Bench Scale Credit", defaults={"slug": "bench-scale-credit"}
        )
        versions = [
            ModelVersion.objects.get_or_create(
                model=model,
                version=label,
                defaults={
                    "metadata": {"features": [{"name": f, "type": "numeric"} for f in FEATURES]}
                },
            )[0]
            for label in ("1.2", "1.3")
        ]
        group = ModelGroup.objects.create(name=GROUP_NAME, slug="bench-scale", features=FEATURES)
        Membership.objects.create(
            group=group, model_version=versions[0], role="champion", weight=90
        )
        Membership.objects.create(
            group=group, model_version=versions[1], role="challenger", weight=10
        )
    group.refresh_from_db()
    return group, versions


_MONTH_SQL = """
INSERT INTO {table} (request_id, model_version_id, role, routing_key, inputs, prediction, score,
    explanation, base_value, latency_ms, fallback, error, created_at, outcome, outcome_at)
SELECT gen_random_uuid(),
       CASE WHEN c THEN %(challenger)s ELSE %(champion)s END,
       CASE WHEN c THEN 'challenger' ELSE 'champion' END,
       'applicant-' || (g %% 50000),
       jsonb_build_object('income', 10000 + (g * 7919) %% 140000, 'debt_ratio', round(random()::numeric, 3),
           'age', 20 + g %% 60, 'credit_history_years', g %% 30, 'open_accounts', g %% 12,
           'delinquencies', g %% 4, 'loan_amount', 3000 + (g * 104729) %% 47000, 'employment_years', g %% 40),
       to_jsonb((s >= 0.5)::int), s,
       jsonb_build_object('income', round((random() - 0.5)::numeric, 5), 'debt_ratio', round((random() - 0.5)::numeric, 5),
           'age', round((random() - 0.5)::numeric, 5), 'credit_history_years', round((random() - 0.5)::numeric, 5),
           'open_accounts', round((random() - 0.5)::numeric, 5), 'delinquencies', round((random() - 0.5)::numeric, 5),
           'loan_amount', round((random() - 0.5)::numeric, 5), 'employment_years', round((random() - 0.5)::numeric, 5)),
       -0.8, round((random() * 8 + 1)::numeric, 3)::float, false, '', t,
       CASE WHEN labelled THEN to_jsonb(y) END, CASE WHEN labelled THEN t + interval '1 hour' END
FROM (
    SELECT g, c, y, labelled,
           %(start)s::timestamptz + (%(end)s::timestamptz - %(start)s::timestamptz) * (g::float / %(rows)s) AS t,
           round((1 / (1 + exp(-((CASE WHEN c THEN 1.6 ELSE 1.2 END) * (y * 2 - 1) + (random() - 0.5) * 3))))::numeric, 4)::float AS s
    FROM (
        SELECT g, random() < 0.10 AS c, (random() < 0.3)::int AS y, random() < 0.8 AS labelled
        FROM generate_series(0::bigint, %(rows)s - 1) AS g
    ) AS draws
) AS rows
"""


def load(group: ModelGroup, versions: list[ModelVersion], rows: int) -> None:
    """`rows` spread evenly over the 12 months up to now, one statement per month."""
    now = datetime.now(UTC)
    this_month = tables.month_start(now)
    months = [tables.month_add(this_month, -n) for n in range(MONTHS - 1, -1, -1)]
    partitions.partitions_ensure(group.table_name, months)
    span_start = datetime(months[0].year, months[0].month, 1, tzinfo=UTC)
    per_second = rows / (now - span_start).total_seconds()
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
        for month in months:
            start = datetime(month.year, month.month, 1, tzinfo=UTC)
            end = min(datetime.combine(tables.month_add(month, 1), datetime.min.time(), UTC), now)
            n = int((end - start).total_seconds() * per_second)
            cursor.execute(
                _MONTH_SQL.format(table=connection.ops.quote_name(group.table_name)),
                {
                    "champion": versions[0].pk,
                    "challenger": versions[1].pk,
                    "start": start,
                    "end": end,
                    "rows": n,
                },
            )
            print(
                f"  {month:%Y-%m}: {n:,} rows ({time.perf_counter() - started:.0f} s)", flush=True
            )
        # As autovacuum would (this server runs without it): statistics, and the visibility
        # map the labelled rows' index-only scans need (else a heap page per row).
        cursor.execute(f"VACUUM (ANALYZE) {connection.ops.quote_name(group.table_name)}")
        cursor.execute("SET synchronous_commit = on")
    print(f"Loaded {rows:,} rows in {time.perf_counter() - started:.0f} s")


def _proc_cpu_seconds(pid: int, *, children: bool = False) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    first = 13 if children else 11  # utime, stime; or cutime, cstime of reaped children
    return (int(fields[first]) + int(fields[first + 1])) / os.sysconf("SC_CLK_TCK")


def _backend_cpu_seconds() -> float | None:
    """CPU time of this connection's PostgreSQL backend so far, plus that of the backends
    that have ended (the postmaster's reaped children: the comparison reads its members
    on connections of its own, closed when done), or None when the server is not on this
    machine (/proc). With the CPUs shared, wall times swing with the load; CPU times
    don't. (Any other backend ending meanwhile, on any database, is counted too.)"""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        postmaster = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        return _proc_cpu_seconds(pid) + _proc_cpu_seconds(postmaster, children=True)
    except OSError:
        return None


def timed(label: str, fn, repeat: int) -> None:
    fn()  # warm: connection, plans, page cache
    runs, python_cpu, server_cpu = [], [], []
    for _ in range(repeat):
        cache.clear()  # the comparison's 10-second cache: computed every time
        backend = _backend_cpu_seconds()
        cpu = time.process_time()
        started = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - started) * 1000)
        python_cpu.append((time.process_time() - cpu) * 1000)
        time.sleep(0.05)  # the closed connections' backends exit and are reaped
        after = _backend_cpu_seconds()
        if backend is not None and after is not None:
            server_cpu.append((after - backend) * 1000)
    server = f"{statistics.median(server_cpu):.0f}" if server_cpu else "-"
    print(
        f"| {label} | {statistics.median(runs):.1f} | {min(runs):.1f} | "
        f"{statistics.median(python_cpu):.0f} + {server} | {os.getloadavg()[0]:.1f} |",
        flush=True,
    )


def get(client: Client, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code, response.content[:300])


def table_size(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(pg_total_relation_size(inhrelid)), 0) FROM pg_inherits "
            "WHERE inhparent = %s::regclass",
            [connection.ops.quote_name(table)],
        )
        return int(cursor.fetchone()[0])


def retention(group: ModelGroup) -> None:
    table = group.table_name
    before, rows_before = table_size(table), tables.inference_log_model(table).all_rows.count()
    oldest = next(p for p in partitions.partitions_list(table) if p.month is not None)
    started = time.perf_counter()
    archived = partition_retire(group=group, partition=oldest, archive=True)
    print(
        f"archive + drop of {oldest.name}: {archived.rows:,} rows, {archived.freed_bytes / 1e6:.0f} MB freed, "
        f"Parquet {archived.archive.file_bytes / 1e6:.0f} MB, {time.perf_counter() - started:.1f} s"
    )
    LogRetention.objects.update_or_create(
        group=group, defaults={"keep_months": 6, "action": "drop"}
    )
    started = time.perf_counter()
    dropped = retention_apply(group=group)
    seconds = time.perf_counter() - started
    after, rows_after = table_size(table), tables.inference_log_model(table).all_rows.count()
    print(
        f"retention to 6 months (drop): {len(dropped)} partitions, {sum(r.rows for r in dropped):,} rows, "
        f"{sum(r.freed_bytes for r in dropped) / 1e6:.0f} MB freed in {seconds:.2f} s"
    )
    print(
        f"12 -> 6 months: {rows_before:,} -> {rows_after:,} rows, {before / 1e9:.2f} -> {after / 1e9:.2f} GB"
    )
    LogRetention.objects.filter(group=group).delete()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--reload", action="store_true", help="empty the table and load again")
    parser.add_argument("--retention", action="store_true", help="then retention 12 -> 6 months")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("Set DATABASE_URL to a PostgreSQL database: this benchmark is about PostgreSQL.")
    call_command("migrate", verbosity=0)
    group, versions = bench_group()
    table = group.table_name
    model = tables.inference_log_model(table)
    print(f"{table}: partitioned {tables.is_partitioned(table)}")
    have = model.all_rows.count()
    if args.reload or have < args.rows * 0.99:
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {connection.ops.quote_name(table)}")
        load(group, versions, args.rows)
        rollup_reset(group=group)
    started = time.perf_counter()
    rollup_refresh(group=group)
    print(f"roll-ups refreshed in {time.perf_counter() - started:.1f} s (as beat keeps them)")
    with connection.cursor() as cursor:
        # As autovacuum would (this server runs without it): never analysed, the roll-ups
        # look empty to the planner, which then sorts a week of them by their JSON labels
        # (10 ms) instead of hashing them (3 ms).
        cursor.execute("ANALYZE inference_hourlyrollup, inference_hourlylatency")
    total = model.all_rows.count()
    parts = partitions.partitions_list(table)
    print(
        f"{total:,} rows in {len(parts)} partitions, {table_size(table) / 1e9:.2f} GB with indexes; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )

    staff, _ = get_user_model().objects.get_or_create(
        username="bench-scale", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(staff)
    print(
        "\n| 10M rows, partitioned | median ms | best ms | CPU ms: Python + PostgreSQL | load |"
        "\n| --- | ---: | ---: | ---: | ---: |"
    )
    timed(
        "7-day comparison, API",
        lambda: get(client, f"/api/v1/groups/{group.slug}/comparison?window=7d"),
        args.repeat,
    )
    timed(
        "7-day comparison, page",
        lambda: get(client, f"/groups/{group.slug}/compare/?window=7d"),
        args.repeat,
    )
    timed(
        "inference browser, first page",
        lambda: get(client, f"/groups/{group.slug}/inferences/"),
        args.repeat,
    )
    timed(
        "inference browser API, first page",
        lambda: get(client, f"/api/v1/groups/{group.slug}/inferences"),
        args.repeat,
    )
    if args.retention:
        print()
        retention(group)


if __name__ == "__main__":
    main()
