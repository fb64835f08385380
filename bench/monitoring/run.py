"""Monitoring benchmark (a script, not a test): a daily snapshot of a big group.

    HUB_VAR_DIR=/tmp/hubvar_monitoring_bench .venv/bin/python bench/monitoring/run.py \
        [--database-url postgres://postgres@127.0.0.1:5432/hub_monitoring_bench] [--rows 1000000] [--days 7]

1. migrates a database of its own and makes one group of two real scikit-learn versions
   (the demo's Credit Scoring 1.2 champion and 1.3 challenger, 90/10);
2. loads `rows` log rows into the group's table in one go (synthetic inputs from the demo
   generator with incomes +60% on the last day, SHAP-shaped explanations, scores,
   latencies, 80% labelled), spread over `days` days; skipped when the table is full;
3. gives each version a reference (the training hold-out, 1500 rows: Wasserstein / JS);
4. in a fresh child process (the "worker"), times `group_run(period=24h)` for the last
   full day (every member: drift on every feature, quality, health, performance) and
   reports its wall time and peak RSS (ru_maxrss), before and after the run.
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


def _load(rows: int, days: int) -> str:
    import numpy as np
    from django.core.management import call_command
    from django.utils import timezone

    from groups.models import ModelGroup, Role
    from groups.services import MemberSpec, group_create
    from inference import tables
    from inference.serving import log_insert
    from monitoring.demo import demo_references_seed
    from registry.demo import CREDIT_FEATURES, credit_dataset, demo_models_seed

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
    log = tables.inference_log_model(group.table_name)
    have = log.objects.count()
    if have >= rows:
        print(f"table already has {have:,} rows")
        return group.slug
    rng = np.random.default_rng(7)
    now = timezone.now()
    ids = {"1.2": versions["1.2"].pk, "1.3": versions["1.3"].pk}
    started = time.perf_counter()
    for start in range(have, rows, CHUNK):
        n = min(CHUNK, rows - start)
        frame = credit_dataset(rows=n, seed=start)[CREDIT_FEATURES]
        ages = rng.uniform(0, days * 86400, n)
        frame.loc[ages < 86400, "income"] *= 1.6
        records = frame.to_dict("records")
        shap = rng.normal(0, 0.3, (n, len(CREDIT_FEATURES)))
        scores = rng.uniform(0, 1, n)
        batch = []
        for i, row in enumerate(records):
            member = "1.2" if rng.random() < 0.9 else "1.3"
            created = now - timedelta(seconds=float(ages[i]))
            batch.append(
                {
                    "request_id": uuid.uuid4(),
                    "model_version_id": ids[member],
                    "role": "champion" if member == "1.2" else "challenger",
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
                    "created_at": created,
                }
            )
        log_insert(group.table_name, batch)
        labelled = [b["request_id"] for b in batch if rng.random() < 0.8]
        log.objects.filter(request_id__in=labelled).update(outcome=1, outcome_at=now)
    print(f"loaded {rows - have:,} rows in {time.perf_counter() - started:.0f} s")
    return group.slug


def _snapshot(slug: str) -> None:
    from django.utils import timezone

    from groups.models import ModelGroup
    from monitoring.models import Period
    from monitoring.snapshots import group_run, window_end

    group = ModelGroup.objects.get(slug=slug)
    end = window_end(Period.DAY, timezone.now()) - timedelta(days=1)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    snapshots = group_run(group=group, period=Period.DAY, end=end)
    elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for s in snapshots:
        drifted = [f["name"] for f in s.drift["features"] if f["drifted"]]
        print(
            f"  {s.model_version} ({s.role}): {s.health['requests']:,} requests in the window, drifted: {drifted}"
        )
    print(
        f"daily snapshot, all members: {elapsed:.2f} s; worker peak RSS {peak / 1024:.0f} MB "
        f"(after Django setup: {before / 1024:.0f} MB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/hub_monitoring_bench"
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--snapshot-only", metavar="SLUG")
    args = parser.parse_args()
    _setup_django(args.database_url)
    if args.snapshot_only:
        _snapshot(args.snapshot_only)
        return
    slug = _load(args.rows, args.days)
    subprocess.run(
        [sys.executable, __file__, "--database-url", args.database_url, "--snapshot-only", slug],
        check=True,
    )


if __name__ == "__main__":
    main()
