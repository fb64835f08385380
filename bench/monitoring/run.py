"""Monitoring benchmark (a script, not a test): a daily snapshot of a big group.

    HUB_VAR_DIR=/tmp/hubvar_monitoring_bench .venv/bin/python bench/monitoring/run.py \
        [--database-url postgres://postgres@127.0.0.1:5432/hub_monitoring_bench] [--rows 1000000] [--days 7] \
        [--load-workers 2]

1. migrates a database of its own and makes one group of two real scikit-learn versions
   (the demo's Credit Scoring 1.2 champion and 1.3 challenger, 90/10);
2. loads `rows` log rows into the group's table (synthetic inputs from the demo
   generator with incomes +60% over the last 24 hours, SHAP-shaped explanations, scores,
   latencies, 80% labelled), spread over `days` days, with `--load-workers` processes
   (each a slice of the rows); then CLUSTERs the table by created_at (the order live traffic
   writes; the loaders write random times) and ANALYZEs it; skipped when the table is full;
3. gives each version a reference (the training hold-out, 1500 rows: Wasserstein / JS);
4. in a fresh child process (the "worker"), times `group_run(period=24h)` for the last
   full UTC day (every member: drift on every feature, quality, health, performance) and
   reports its wall time, CPU time and peak RSS (ru_maxrss, after setup and after the
   run), with the load average; `--snapshot-only bench-monitoring` repeats just this step.

The database must exist: `createdb -h 127.0.0.1 -U postgres hub_monitoring_bench`.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
CHUNK = 5000


def _setup_django(database_url: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")
    os.environ["DATABASE_URL"] = database_url
    import django

    django.setup()


def _load(rows: int, days: int, workers: int, database_url: str) -> str:
    from django.core.management import call_command

    from groups.models import ModelGroup, Role
    from groups.services import MemberSpec, group_create
    from inference import tables
    from monitoring.demo import demo_references_seed
    from registry.demo import demo_models_seed

    call_command("migrate", verbosity=0)
    versions = demo_models_seed(owner=None)
    group = ModelGroup.objects.filter(slug="bench-monitoring").first() or group_create(
        name="Bench Monitoring",
        members=[
            MemberSpec(versions["1.2"], Role.CHAMPION, 90),
            MemberSpec(versions["1.3"], Role.CHALLENGER, 10),
        ],
    )
    demo_references_seed(versions=versions)
    have = tables.inference_log_model(group.table_name).objects.count()
    if have >= rows:
        print(f"table already has {have:,} rows")
        return group.slug
    # The load is not what is measured: `workers` processes insert disjoint slices.
    started = time.perf_counter()
    step = -(-(rows - have) // workers // CHUNK) * CHUNK
    children = [
        subprocess.Popen(
            [sys.executable, __file__, "--database-url", database_url, "--days", str(days)]
            + ["--load-slice", group.slug, str(a), str(min(a + step, rows))]
        )
        for a in range(have, rows, step)
    ]
    if any(child.wait() for child in children):
        sys.exit("a loader failed")
    print(f"loaded {rows - have:,} rows in {time.perf_counter() - started:.0f} s")
    started = time.perf_counter()
    _cluster(group.table_name)
    print(f"clustered by created_at and analyzed in {time.perf_counter() - started:.0f} s")
    return group.slug


def _cluster(table: str) -> None:
    """Lay the rows out in created_at order, as live traffic appends them, and ANALYZE.
    The loaders write random times: left so, one day's rows of a member sit on nearly every
    page of the table and the snapshot reads ~10x the pages it would in production."""
    from django.db import connection

    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = %s AND indexdef LIKE %s",
            [table, "%(created_at)"],
        )
        (index,) = cursor.fetchone()
        cursor.execute(f"CLUSTER {quote(table)} USING {quote(index)}")
        cursor.execute(f"ANALYZE {quote(table)}")


def _load_slice(slug: str, first: int, stop: int, days: int) -> None:
    import numpy as np
    from django.db import transaction
    from django.utils import timezone

    from groups.models import Membership, ModelGroup
    from inference.serving import log_insert
    from registry.demo import CREDIT_FEATURES, credit_dataset

    group = ModelGroup.objects.get(slug=slug)
    members = {m.role: m.model_version_id for m in Membership.objects.filter(group=group)}
    rng = np.random.default_rng(first)
    now = timezone.now()
    for start in range(first, stop, CHUNK):
        n = min(CHUNK, stop - start)
        frame = credit_dataset(rows=n, seed=start)[CREDIT_FEATURES]
        ages = rng.uniform(0, days * 86400, n)
        frame.loc[ages < 86400, "income"] *= 1.6
        records = frame.to_dict("records")
        shap = rng.normal(0, 0.3, (n, len(CREDIT_FEATURES)))
        scores = rng.uniform(0, 1, n)
        labelled = rng.random(n) < 0.8
        challenger = rng.random(n) >= 0.9
        batch = []
        for i, row in enumerate(records):
            role = "challenger" if challenger[i] else "champion"
            batch.append(
                {
                    "request_id": uuid.uuid4(),
                    "model_version_id": members[role],
                    "role": role,
                    "routing_key": "",
                    "inputs": {k: float(v) for k, v in row.items()},
                    "prediction": int(scores[i] > 0.5),
                    "score": float(scores[i]),
                    "explanation": dict(
                        zip(CREDIT_FEATURES, shap[i].round(4).tolist(), strict=True)
                    ),
                    "base_value": 0.0,
                    "latency_ms": float(rng.gamma(2, 2)),
                    "fallback": False,
                    "error": "",
                    "created_at": now - timedelta(seconds=float(ages[i])),
                    # 80% labelled, in the INSERT itself (no UPDATE per chunk)
                    "outcome": 1 if labelled[i] else None,
                    "outcome_at": now if labelled[i] else None,
                }
            )
        with transaction.atomic():
            log_insert(group.table_name, batch, extra_columns=("outcome", "outcome_at"))


def _snapshot(slug: str) -> None:
    from django.utils import timezone

    from groups.models import ModelGroup
    from monitoring.models import Period
    from monitoring.snapshots import group_run, window_end

    group = ModelGroup.objects.get(slug=slug)
    end = window_end(Period.DAY, timezone.now()) - timedelta(days=1)
    print("load average (1, 5, 15 min) before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started, cpu_started = time.perf_counter(), time.process_time()
    snapshots = group_run(group=group, period=Period.DAY, end=end)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for s in snapshots:
        drifted = [f["name"] for f in s.drift["features"] if f["drifted"]]
        print(
            f"  {s.model_version} ({s.role}): {s.health['requests']:,} requests in the window, drifted: {drifted}"
        )
    print(
        f"daily snapshot, all members: {elapsed:.2f} s; worker peak RSS {peak / 1024:.0f} MB "
        f"(after Django setup: {before / 1024:.0f} MB); CPU {cpu:.2f} s"
    )
    print("load average (1, 5, 15 min) after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/hub_monitoring_bench"
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--load-workers", type=int, default=2, help="loader processes")
    parser.add_argument("--snapshot-only", metavar="SLUG")
    parser.add_argument("--load-slice", nargs=3, metavar=("SLUG", "START", "STOP"))
    args = parser.parse_args()
    _setup_django(args.database_url)
    if args.snapshot_only:
        _snapshot(args.snapshot_only)
        return
    if args.load_slice:
        slug, first, stop = args.load_slice
        _load_slice(slug, int(first), int(stop), args.days)
        return
    slug = _load(args.rows, args.days, max(1, args.load_workers), args.database_url)
    subprocess.run(
        [sys.executable, __file__, "--database-url", args.database_url, "--snapshot-only", slug],
        check=True,
    )


if __name__ == "__main__":
    main()
