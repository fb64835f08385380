"""Batch prediction benchmark (a script, not a test): 1,000,000 rows of the demo credit
features through the demo group "Live Credit Scoring" with SHAP, against bare
scikit-learn predict_proba + SHAP on the same rows, in the same run.

    HUB_VAR_DIR=/tmp/hubvar_batch .venv/bin/python bench/batch/run.py \
        [--database-url postgres://postgres@127.0.0.1:5432/hub_batch_bench] [--rows 1000000] \
        [--repeat 1]

1. migrates its own database, seeds the demo models and group;
2. writes the CSV (streamed, 100,000 rows at a time);
3. runs the bare floor in a child: pandas reads the CSV, the rows the group would route to
   each member get that member's predict_proba and shap (LinearExplainer on the scaled rows
   for the logistic pipeline, TreeExplainer for the gradient boosting), no files written;
4. runs `manage.py batch_predict live-credit-scoring <csv> --inline --no-log` in a child
   (the worker's work: cut into chunks, route, predict, SHAP, write the parts), which
   reports its seconds, CPU seconds and peak RSS;
5. runs the bare floor again, and prints rows/s, peak RSS and the hub / bare ratio (work
   only, against the mean of the two bare runs) by wall time and by CPU time: the machine
   is shared, and CPU time moves less with the others' load. The load average is printed.
   With --repeat N, steps 3-5 run N times (the setup and the CSV once). Every child reports
   its own peak RSS (ru_maxrss of its own process).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

BARE = r"""
import resource, sys, time, os
import django
django.setup()
import numpy as np, pandas as pd, shap
from groups.models import ModelGroup
from groups.routing import choose
from groups.selectors import routing_table
from registry.artifacts import artifact_load
from registry.demo import CREDIT_FEATURES
from registry.models import ModelVersion
import uuid
path = sys.argv[1]
started, cpu_started = time.perf_counter(), time.process_time()
frame = pd.read_csv(path)
read = time.perf_counter() - started
read_cpu = time.process_time() - cpu_started
table = routing_table("live-credit-scoring")
job = uuid.uuid4()
chosen = np.array([choose(table.members, routing_key=f"{job}:{i}").version_id for i in range(len(frame))])
t0, cpu0 = time.perf_counter(), time.process_time()
for member in table.members:
    rows = frame.loc[chosen == member.version_id, CREDIT_FEATURES]
    if rows.empty:
        continue
    version = ModelVersion.objects.get(pk=member.version_id)
    est = artifact_load(version)
    proba = est.predict_proba(rows)
    if hasattr(est, "steps"):
        pre, final = est[:-1], est[-1]
        X = pre.transform(rows)
        values = shap.LinearExplainer(final, shap.maskers.Independent(X[:50])).shap_values(X)
    else:
        values = shap.TreeExplainer(est).shap_values(rows)
compute = time.perf_counter() - t0
cpu = read_cpu + time.process_time() - cpu0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"BARE rows={len(frame)} read_s={read:.2f} compute_s={compute:.2f} total_s={read + compute:.2f} cpu_s={cpu:.2f} peak_rss_mb={peak:.0f}")
"""


def _env(database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "DEBUG": "true",
        "DJANGO_SETTINGS_MODULE": "hub.settings",
        "LOG_LEVEL": "WARNING",
    }


def _seed(env: dict[str, str]) -> None:
    code = (
        "import django; django.setup()\n"
        "from django.contrib.auth import get_user_model\n"
        "from inference.demo import demo_traffic_seed\n"
        "from registry.demo import demo_models_seed\n"
        "u, _ = get_user_model().objects.get_or_create(username='bench')\n"
        "demo_traffic_seed(versions=demo_models_seed(owner=u), requests=50, actor=u)\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)


def _write_csv(path: Path, rows: int, env: dict[str, str]) -> None:
    code = (
        "import sys; import django; django.setup()\n"
        "from registry.demo import CREDIT_FEATURES, credit_dataset\n"
        f"rows, path = {rows}, {str(path)!r}\n"
        "with open(path, 'w') as fh:\n"
        "    for part, start in enumerate(range(0, rows, 100_000)):\n"
        "        frame = credit_dataset(rows=min(100_000, rows - start), seed=part)[CREDIT_FEATURES]\n"
        "        frame.to_csv(fh, index=False, header=part == 0)\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)


def _child(args: list[str], env: dict[str, str]) -> str:
    # Each child reports its own seconds, CPU seconds and peak RSS (RUSAGE_CHILDREN would
    # be the maximum over every child so far: migrate, seed, the CSV writer, ...).
    out = subprocess.run(args, cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    return out.stdout + out.stderr


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/hub_batch_bench"
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1, help="bare, hub, bare this many times")
    args = parser.parse_args()
    env = _env(args.database_url)
    subprocess.run(
        ["createdb", "-h", "127.0.0.1", "-U", "postgres", args.database_url.rsplit("/", 1)[-1]],
        capture_output=True,
    )
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    _seed(env)
    path = Path(os.environ.get("HUB_VAR_DIR", "/tmp")) / f"bench_batch_{args.rows}.csv"
    if not path.exists():
        _write_csv(path, args.rows, env)
    print("load average (1, 5, 15 min) at the start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print(f"input: {path} ({path.stat().st_size / 1e6:.0f} MB, {args.rows:,} rows)")

    # Bare, hub, bare: the machine is shared, so the hub is compared with the mean of the
    # two bare runs around it, by wall time and by CPU time (less sensitive to other load).
    for repeat in range(args.repeat):
        print(f"--- run {repeat + 1} of {args.repeat}, load average {os.getloadavg()[0]:.2f}")
        bare = [_child([sys.executable, "-c", BARE, str(path)], env)]
        hub = _child(
            [sys.executable, "manage.py", "batch_predict", "live-credit-scoring", str(path)]
            + ["--inline", "--no-log"],
            env,
        )
        bare.append(_child([sys.executable, "-c", BARE, str(path)], env))
        _report(args.rows, hub, bare)


def _number(pattern: str, text: str) -> float:
    return float(re.search(pattern, text).group(1))


def _report(rows: int, hub: str, bare: list[str]) -> None:
    print(hub.strip())
    for out in bare:
        print(out.strip())
    hub_s, hub_cpu = _number(r"\(([0-9.]+) s,", hub), _number(r"cpu ([0-9.]+) s", hub)
    hub_mb = _number(r"peak RSS ([0-9.]+) MB", hub)
    bare_s = sum(_number(r"total_s=([0-9.]+)", out) for out in bare) / len(bare)
    bare_cpu = sum(_number(r"cpu_s=([0-9.]+)", out) for out in bare) / len(bare)
    bare_mb = max(_number(r"peak_rss_mb=([0-9.]+)", out) for out in bare)
    print("| run (work only, no process start-up) | seconds | CPU s | rows/s | peak RSS (MB) |")
    print("| --- | --- | --- | --- | --- |")
    print(
        f"| hub batch (read, route, predict, SHAP, write parts) | {hub_s:.1f} | {hub_cpu:.1f} "
        f"| {rows / hub_s:,.0f} | {hub_mb:.0f} |"
    )
    print(
        f"| bare pandas read + predict_proba + SHAP (mean of 2; RSS max) | {bare_s:.1f} | {bare_cpu:.1f} "
        f"| {rows / bare_s:,.0f} | {bare_mb:.0f} |"
    )
    # Like for like, the work only: the hub's batch_run_inline (cut, route, predict, SHAP,
    # write the parts) against the bare CSV read + predict_proba + SHAP; the bare side's
    # routing loop is outside its timer.
    print(
        f"like for like, ratio hub / bare rows/s: wall {bare_s / hub_s:.2f}, CPU {bare_cpu / hub_cpu:.2f}"
    )
    print("load average (1, 5, 15 min) at the end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
