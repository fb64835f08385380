"""What /healthz reports: each component's status, measured with a short timeout."""

import time
import uuid
from collections.abc import Callable

from django.core.cache import cache
from django.db import connection

from hub.celery import app as celery_app


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _cache() -> None:
    key = f"healthz:{uuid.uuid4().hex}"
    cache.set(key, "ok", timeout=5)
    if cache.get(key) != "ok":
        raise RuntimeError("value written to the cache could not be read back")
    cache.delete(key)


def _broker() -> None:
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0.2, timeout=2)


COMPONENTS: dict[str, Callable[[], None]] = {
    "database": _database,
    "cache": _cache,
    "broker": _broker,
}


def component_status() -> dict[str, dict]:
    report = {}
    for name, probe in COMPONENTS.items():
        started = time.perf_counter()
        try:
            probe()
        except Exception as exc:  # a health probe reports every failure, whatever its type
            report[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
        else:
            report[name] = {"ok": True}
        report[name]["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return report
