"""Serving benchmark (a script, not a test): the predict endpoint under load.

    HUB_VAR_DIR=/tmp/hubvar_serving .venv/bin/python bench/serving/run.py \
        [--database-url postgres://postgres@127.0.0.1:5432/hub_serving_bench] \
        [--redis-url redis://127.0.0.1:6379/5] [--duration 20] [--concurrency 1,8,32] \
        [--workers 2 --threads 8] [--mlserver-venv /tmp/mlserver-venv]

What it does, in one run:
1. migrates a PostgreSQL database of its own, seeds the demo models and the demo 90/10 group
   "Live Credit Scoring" (inference.demo, a few hundred replayed rows) and makes an API key;
2. times the in-process floor per request (routing + predict + SHAP + the one INSERT, no
   HTTP), and its parts, on the same database;
3. starts gunicorn on loopback (production settings: DEBUG off, PostgreSQL, Redis cache) and
   loads POST /api/v1/groups/live-credit-scoring/predict with single-row requests at each
   concurrency for `duration` seconds with wrk (a bounded Python client when wrk is missing);
4. as the peer reference, serves the same gradient-boosting model (1.3) with MLServer
   (mlserver + mlserver-sklearn from a separate venv, never a project dependency) and loads
   its V2 infer endpoint the same way, asking for predict_proba;
5. prints a Markdown table: requests/s, p50, p99, errors.

The MLServer venv (benchmark only, never a project dependency; MLServer 1.7's worker pool
breaks with uvloop 0.22+, hence the pin):

    python3.12 -m venv /tmp/mlserver-venv
    /tmp/mlserver-venv/bin/pip install mlserver mlserver-sklearn "uvloop<0.22"

MLServer is skipped (and said so) when its venv is missing. Nothing here is imported by the
product or the tests. The numbers depend on what else the machine runs: note the load average
printed with them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
ROWS = 50  # distinct request bodies cycled by the load client


@dataclass
class LoadResult:
    target: str
    concurrency: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int
    # CPU the server's processes spent per request (ms), and PostgreSQL's and Redis's
    # (every backend's: other work on the machine shows up there too).
    server_cpu_ms: float = 0.0
    database_cpu_ms: float = 0.0


# --- CPU accounting -----------------------------------------------------------------------
# Requests/s on a shared 2-CPU machine swing with whatever else runs; the CPU a server
# spends per request does not, so the table reports both.

_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime


def _descendants(pid: int) -> list[int]:
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        found.append(current)
        for children in Path(f"/proc/{current}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                stack.extend(int(c) for c in children.read_text().split())
    return found


def _named_cpu(names: tuple[str, ...]) -> dict[int, float]:
    found = {}
    for stat in Path("/proc").glob("[0-9]*/comm"):
        with contextlib.suppress(OSError):
            if stat.read_text().strip().startswith(names):
                found[int(stat.parent.name)] = _cpu_seconds(int(stat.parent.name))
    return found


def _with_cpu(server_pid: int, run) -> LoadResult:
    def server() -> float:
        return sum(_cpu_seconds(p) for p in _descendants(server_pid))

    services = ("postgres", "redis-server")
    server_before, services_before = server(), _named_cpu(services)
    result = run()
    server_after, services_after = server(), _named_cpu(services)
    per_request = 1000.0 / max(result.requests, 1)
    result.server_cpu_ms = (server_after - server_before) * per_request
    # The processes alive at the end (a backend that exited meanwhile is not counted).
    spent = sum(cpu - services_before.get(pid, 0.0) for pid, cpu in services_after.items())
    result.database_cpu_ms = spent * per_request
    return result


# --- setup ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def _production_env(args: argparse.Namespace) -> dict[str, str]:
    from cryptography.fernet import Fernet

    env = dict(os.environ)
    env.update(
        DATABASE_URL=args.database_url,
        REDIS_URL=args.redis_url,
        CACHE_KEY_PREFIX="hub-bench",
        DEBUG="false",
        SECRET_KEY="bench-" + "x" * 50,
        HUB_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="false",
        LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="hub.settings",
        # The rate throttle runs (its cost is measured) but never refuses the load.
        HUB_THROTTLE_RATE="100000000/min",
        HUB_GROUP_COMMIT="true" if args.group_commit else "false",
        HUB_GROUP_COMMIT_WINDOW_MS=str(args.window_ms),
    )
    return env


def _setup_django(env: dict[str, str]) -> None:
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def _seed() -> tuple[str, dict, list[dict]]:
    """The demo group, an API key for it, the versions, and request rows."""
    from django.contrib.auth import get_user_model

    from groups.models import ModelGroup
    from groups.services import api_key_create
    from inference.demo import DEMO_GROUP_NAME, demo_traffic_seed
    from registry.demo import CREDIT_FEATURES, credit_dataset, demo_models_seed

    user, _ = get_user_model().objects.get_or_create(username="bench", defaults={"is_staff": True})
    versions = demo_models_seed(owner=user)
    demo_traffic_seed(versions=versions, requests=300, actor=user)
    group = ModelGroup.objects.get(name=DEMO_GROUP_NAME)
    _, key = api_key_create(
        name=f"bench {time.time():.0f}", team=group.team, scopes=["predict"], groups=[group]
    )
    frame = credit_dataset(rows=ROWS, seed=99)[CREDIT_FEATURES]
    rows = [
        {k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
        for r in frame.to_dict("records")
    ]
    return key, versions, rows


# --- in-process floor ----------------------------------------------------------------------


def _floor(versions: dict, rows: list[dict], iterations: int) -> dict[str, float]:
    """Median milliseconds per request of the service and of its parts, no HTTP."""
    from django.db import connection

    from groups.models import ModelGroup
    from inference import explain, serving
    from inference.demo import DEMO_GROUP_NAME
    from registry.predictors import predictor_for

    group = ModelGroup.objects.get(name=DEMO_GROUP_NAME)
    timings: dict[str, list[float]] = {
        "service (route+predict+SHAP+INSERT)": [],
        "predict 1.2 (logistic)": [],
        "SHAP 1.2 (linear)": [],
        "predict 1.3 (gradient boosting)": [],
        "SHAP 1.3 (tree)": [],
        "INSERT": [],
    }
    for i in range(iterations + 20):
        row = rows[i % len(rows)]
        start = time.perf_counter()
        serving.predict_one(slug=group.slug, inputs=row)
        if i >= 20:
            timings["service (route+predict+SHAP+INSERT)"].append(time.perf_counter() - start)
    for label, kind in (("1.2", "logistic"), ("1.3", "gradient boosting")):
        version = versions[label]
        predictor = predictor_for(version)
        for i in range(iterations):
            row = rows[i % len(rows)]
            start = time.perf_counter()
            prediction = predictor.predict([row])
            timings[f"predict {label} ({kind})"].append(time.perf_counter() - start)
            start = time.perf_counter()
            explain.explanation_for(version, predictor, [row], labels=[prediction[0].label])
            shap_kind = "linear" if label == "1.2" else "tree"
            timings[f"SHAP {label} ({shap_kind})"].append(time.perf_counter() - start)
    import uuid

    from django.utils import timezone

    for i in range(iterations):
        start = time.perf_counter()
        serving.log_insert(
            group.table_name,
            [
                {
                    "request_id": uuid.uuid4(),
                    "model_version_id": versions["1.2"].pk,
                    "role": "champion",
                    "routing_key": "",
                    "inputs": rows[i % len(rows)],
                    "prediction": 0,
                    "score": 0.1,
                    "explanation": {"income": 0.1},
                    "base_value": -1.0,
                    "latency_ms": 1.0,
                    "fallback": False,
                    "error": "",
                    "created_at": timezone.now(),
                }
            ],
        )
        timings["INSERT"].append(time.perf_counter() - start)
    connection.close()
    return {name: statistics.median(values) * 1000 for name, values in timings.items()}


# --- servers -------------------------------------------------------------------------------


def _wait_http(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not come up in {timeout:.0f}s")


def _start_gunicorn(env: dict[str, str], port: int, workers: int, threads: int) -> subprocess.Popen:
    # gunicorn.conf.py is read too (its worker model); the command line sets the rest.
    command = [
        str(VENV_BIN / "gunicorn"),
        "hub.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "gthread" if threads > 1 else "sync",
        "--threads",
        str(threads),
        "--backlog",
        "2048",
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    _wait_http(f"http://127.0.0.1:{port}/healthz")
    return process


def _start_mlserver(
    venv: Path, model_file: Path, port: int, workers: int
) -> tuple[subprocess.Popen, Path]:
    folder = Path(tempfile.mkdtemp(prefix="mlserver-bench-"))
    model_dir = folder / "credit-gb"
    model_dir.mkdir()
    shutil.copy(model_file, model_dir / "model.joblib")
    (folder / "settings.json").write_text(
        json.dumps(
            {
                "http_port": port,
                "grpc_port": _free_port(),
                "metrics_port": _free_port(),
                "parallel_workers": workers,
                "debug": False,
            }
        )
    )
    (model_dir / "model-settings.json").write_text(
        json.dumps(
            {
                "name": "credit-gb",
                "implementation": "mlserver_sklearn.SKLearnModel",
                "parameters": {"uri": "./model.joblib"},
            }
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO", "DATABASE", "REDIS"))}
    process = subprocess.Popen(
        [str(venv / "bin" / "mlserver"), "start", str(folder)],
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{port}/v2/models/credit-gb/ready", timeout=2
            ) as r:
                if r.status == 200:
                    return process, folder
        except OSError:
            pass
        if process.poll() is not None:
            raise RuntimeError("MLServer exited while starting")
        time.sleep(0.5)
    raise RuntimeError("MLServer did not become ready")


def _stop(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(process.pid, signal.SIGKILL)


# --- load ------------------------------------------------------------------------------------


def _lua(bodies: list[str], headers: dict[str, str]) -> str:
    quoted = ",\n".join("[==[" + b + "]==]" for b in bodies)
    header_lines = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items())
    return (
        'wrk.method = "POST"\n'
        f"{header_lines}\n"
        f"local bodies = {{\n{quoted}\n}}\n"
        "local i = 0\n"
        "request = function()\n"
        "  i = i % #bodies + 1\n"
        "  return wrk.format(nil, nil, nil, bodies[i])\n"
        "end\n"
    )


_UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    match = re.match(r"([\d.]+)(us|ms|s)", text)
    assert match, text
    return float(match.group(1)) * _UNIT[match.group(2)]


def _wrk(
    url: str,
    bodies: list[str],
    headers: dict[str, str],
    concurrency: int,
    duration: int,
    target: str,
) -> LoadResult:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_lua(bodies, headers))
    threads = min(concurrency, 2)
    out = subprocess.run(
        [
            "wrk",
            "-t",
            str(threads),
            "-c",
            str(concurrency),
            "-d",
            f"{duration}s",
            "--latency",
            "--timeout",
            "10s",
            "-s",
            script.name,
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    os.unlink(script.name)
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    errors = 0
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        errors += int(non2xx.group(1))
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if sock:
        errors += sum(int(x) for x in sock.groups())
    return LoadResult(target, concurrency, rps, p50, p99, errors, total)


def _python_load(
    url: str,
    bodies: list[str],
    headers: dict[str, str],
    concurrency: int,
    duration: int,
    target: str,
) -> LoadResult:
    """A bounded closed-loop client: `concurrency` threads, each one request at a time."""
    import http.client

    latencies: list[float] = []
    errors = [0]
    stop = time.monotonic() + duration
    host, port = url.split("//", 1)[1].split("/", 1)[0].split(":")
    path = "/" + url.split("//", 1)[1].split("/", 1)[1]

    def worker(offset: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        i = offset
        while time.monotonic() < stop:
            body = bodies[i % len(bodies)]
            i += 1
            start = time.perf_counter()
            try:
                conn.request("POST", path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
            except OSError:
                ok = False
                conn.close()
                conn = http.client.HTTPConnection(host, int(port), timeout=10)
            latencies.append((time.perf_counter() - start) * 1000)
            if not ok:
                errors[0] += 1

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    latencies.sort()
    n = len(latencies)
    return LoadResult(
        target,
        concurrency,
        n / duration,
        latencies[n // 2],
        latencies[min(n - 1, int(n * 0.99))],
        errors[0],
        n,
    )


def _load(*args) -> LoadResult:
    return _wrk(*args) if shutil.which("wrk") else _python_load(*args)


def _check(url: str, body: str, headers: dict[str, str]) -> None:
    request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        answer = json.loads(response.read())
    print("  sample answer:", json.dumps(answer)[:300])


# --- durability: kill -9 workers under load -------------------------------------------------


def _workers_of(master: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout
    return [int(pid) for pid in out.split()]


def _durability(env: dict[str, str], args: argparse.Namespace, key: str, rows: list[dict]) -> dict:
    """c=8 load for `args.durability` seconds while one gunicorn worker is killed with
    SIGKILL every `args.kill_every` seconds; then every request id answered 200 must be in
    the group's table exactly once."""
    import http.client

    from inference import tables

    port = _free_port()
    hub = _start_gunicorn(env, port, args.workers, args.threads)
    answered: list[str] = []
    failed = [0]
    stop = time.monotonic() + args.durability
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    bodies = [json.dumps({"inputs": row}) for row in rows]

    def client(offset: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        i = offset
        while time.monotonic() < stop:
            i += 1
            try:
                conn.request(
                    "POST",
                    "/api/v1/groups/live-credit-scoring/predict",
                    body=bodies[i % len(bodies)],
                    headers=headers,
                )
                response = conn.getresponse()
                body = response.read()
                if response.status == 200:
                    answered.append(json.loads(body)["request_id"])
                else:
                    failed[0] += 1
            except (OSError, http.client.HTTPException):
                failed[0] += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    threads = [threading.Thread(target=client, args=(n * 1000,)) for n in range(8)]
    for t in threads:
        t.start()
    kills = 0
    try:
        while time.monotonic() < stop - args.kill_every:
            time.sleep(args.kill_every)
            workers = _workers_of(hub.pid)
            if workers:
                os.kill(workers[kills % len(workers)], signal.SIGKILL)
                kills += 1
        for t in threads:
            t.join()
    finally:
        _stop(hub)
    log = tables.inference_log_model("inference_log_live_credit_scoring")
    counts: dict[str, int] = {}
    for start in range(0, len(answered), 5000):
        chunk = answered[start : start + 5000]
        for request_id in log.objects.filter(request_id__in=chunk).values_list(
            "request_id", flat=True
        ):
            counts[str(request_id)] = counts.get(str(request_id), 0) + 1
    missing = sum(1 for r in answered if r not in counts)
    duplicated = sum(1 for n in counts.values() if n > 1)
    return {
        "answered_200": len(answered),
        "failed": failed[0],
        "kills": kills,
        "missing": missing,
        "duplicated": duplicated,
    }


# --- main ------------------------------------------------------------------------------------


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/hub_serving_bench"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/5")
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (2 cores)")
    parser.add_argument("--threads", type=int, default=8, help="threads per worker")
    parser.add_argument("--window-ms", type=float, default=0.0, help="HUB_GROUP_COMMIT_WINDOW_MS")
    parser.add_argument("--no-group-commit", dest="group_commit", action="store_false")
    parser.add_argument("--mlserver-venv", default="/tmp/mlserver-venv")
    parser.add_argument(
        "--mlserver-workers",
        default="0,2",
        help="MLServer parallel_workers to run, comma-separated",
    )
    parser.add_argument("--floor-iterations", type=int, default=500)
    parser.add_argument("--skip-hub", action="store_true", help="MLServer only")
    parser.add_argument(
        "--durability", type=int, default=0, help="seconds of the kill -9 run (0: none)"
    )
    parser.add_argument("--kill-every", type=float, default=3.0)
    return parser.parse_args()


def _run_hub(
    env: dict[str, str], args: argparse.Namespace, key: str, rows: list[dict], levels: list[int]
) -> list[LoadResult]:
    results: list[LoadResult] = []
    port = _free_port()
    hub = _start_gunicorn(env, port, args.workers, args.threads)
    try:
        url = f"http://127.0.0.1:{port}/api/v1/groups/live-credit-scoring/predict"
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
        bodies = [json.dumps({"inputs": row}) for row in rows]
        _check(url, bodies[0], headers)
        _load(url, bodies, headers, 8, 3, "warm-up")
        label = f"Model Hub {args.workers}x{args.threads} (route+predict+SHAP+log)"
        for c in levels:
            results.append(
                _with_cpu(hub.pid, lambda c=c: _load(url, bodies, headers, c, args.duration, label))
            )
            print(" ", results[-1])
    finally:
        _stop(hub)
    return results


def _run_mlserver(
    args: argparse.Namespace, versions: dict, rows: list[dict], levels: list[int], workers: int
) -> list[LoadResult]:
    import joblib

    from registry.artifacts import artifact_load

    model_file = Path(tempfile.mkdtemp()) / "model.joblib"
    joblib.dump(artifact_load(versions["1.3"]), model_file)
    port = _free_port()
    mlserver = None
    results: list[LoadResult] = []
    try:
        mlserver, _ = _start_mlserver(Path(args.mlserver_venv), model_file, port, workers)
        url = f"http://127.0.0.1:{port}/v2/models/credit-gb/infer"
        headers = {"Content-Type": "application/json"}
        names = list(rows[0])
        bodies = [
            json.dumps(
                {
                    "inputs": [
                        {
                            "name": "input-0",
                            "shape": [1, len(names)],
                            "datatype": "FP64",
                            "data": [float(row[n]) for n in names],
                        }
                    ],
                    "outputs": [{"name": "predict_proba"}],
                }
            )
            for row in rows
        ]
        _check(url, bodies[0], headers)
        _load(url, bodies, headers, 8, 3, "warm-up")
        for c in levels:
            label = f"MLServer workers={workers} (predict_proba only)"
            results.append(
                _with_cpu(
                    mlserver.pid,
                    lambda c=c, label=label: _load(url, bodies, headers, c, args.duration, label),
                )
            )
            print(" ", results[-1])
    except Exception as exc:  # the peer is a reference: report, do not fail the run
        print(f"MLServer (workers={workers}) reference skipped: {exc}")
    finally:
        if mlserver is not None:
            _stop(mlserver)
    return results


def _logged_split(log, first_id: int, versions: dict) -> tuple[int, str]:
    from django.db.models import Count

    split = dict(
        log.objects.filter(id__gt=first_id).values_list("model_version_id").annotate(n=Count("id"))
    )
    logged = sum(split.values())
    shares = ", ".join(
        f"{label}: {split.get(v.pk, 0) / max(logged, 1):.1%}" for label, v in versions.items()
    )
    return logged, shares


def _print_table(results: list[LoadResult], floor: dict[str, float]) -> None:
    print(
        "| server | concurrency | req/s | p50 ms | p99 ms | p99/p50 | errors | requests "
        "| server CPU ms/req | PostgreSQL + Redis CPU ms/req |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        print(
            f"| {r.target} | {r.concurrency} | {r.requests_per_s:.0f} | {r.p50_ms:.2f} | "
            f"{r.p99_ms:.2f} | {r.p99_ms / max(r.p50_ms, 1e-9):.1f} | {r.errors} | {r.requests} "
            f"| {r.server_cpu_ms:.2f} | {r.database_cpu_ms:.2f} |"
        )
    hub = {r.concurrency: r for r in results if r.target.startswith("Model Hub")}
    for r in results:
        if r.target.startswith("MLServer") and r.concurrency in hub:
            ratio = hub[r.concurrency].requests_per_s / max(r.requests_per_s, 1e-9)
            print(
                f"ratio at c={r.concurrency}: Model Hub / {r.target.split(' (')[0]} = {ratio:.2f}x"
            )
    print()
    print("| in-process floor | ms (median) |\n| --- | ---: |")
    for name, ms in floor.items():
        print(f"| {name} | {ms:.3f} |")


def main() -> None:
    args = _arguments()
    levels = [int(c) for c in args.concurrency.split(",")]

    _ensure_database(args.database_url)
    env = _production_env(args)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    _setup_django(env)
    from django.core.cache import cache
    from django.db.models import Max

    from inference import tables

    cache.clear()  # this bench's own Redis db and key prefix
    key, versions, rows = _seed()
    print(f"load average at the start: {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} CPUs")
    floor: dict[str, float] = {}
    if args.floor_iterations:
        print(f"In-process floor, median of {args.floor_iterations} calls (ms):")
        floor = _floor(versions, rows, args.floor_iterations)
        for name, ms in floor.items():
            print(f"  {name:40s} {ms:7.3f}")

    log = tables.inference_log_model("inference_log_live_credit_scoring")
    print(f"table partitioned: {tables.is_partitioned(log._meta.db_table)}")
    first_id = log.all_rows.aggregate(m=Max("id"))["m"] or 0
    results = [] if args.skip_hub else _run_hub(env, args, key, rows, levels)
    logged, shares = _logged_split(log, first_id, versions)
    print(f"  rows logged by the load: {logged} ({shares})")

    if (Path(args.mlserver_venv) / "bin" / "mlserver").exists():
        for workers in [int(w) for w in args.mlserver_workers.split(",") if w != ""]:
            results += _run_mlserver(args, versions, rows, levels, workers)
    else:
        print(
            f"MLServer reference skipped: no {args.mlserver_venv}/bin/mlserver (see the module docstring)."
        )

    durability = _durability(env, args, key, rows) if args.durability else None

    print()
    print(f"rows logged during the load: {logged} ({shares})")
    print(f"load average at the end: {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} CPUs")
    print(
        f"gunicorn: {args.workers} workers x {args.threads} thread(s), group commit "
        f"{'on' if args.group_commit else 'off'} (window {args.window_ms} ms); MLServer: "
        f"parallel_workers {args.mlserver_workers}; {args.duration}s per level; "
        f"load client: {'wrk' if shutil.which('wrk') else 'python'}"
    )
    print()
    _print_table(results, floor)
    if durability is not None:
        print()
        print("durability (kill -9 a worker every", args.kill_every, "s under c=8):", durability)


if __name__ == "__main__":
    main()
