"""A real Celery worker for tests: `celery -A hub worker` in a subprocess, pointed at the
test database and the configured broker (Redis when REDIS_URL is set, the embedded
filesystem broker otherwise).

Use the `celery_worker` fixture with a transactional database (the worker is another
process, so it only sees committed rows):

    def test_something(celery_worker, transactional_db): ...

`celery_worker.stop()` ends it early, `celery_worker.kill()` kills it the hard way (a
worker that dies mid-task), and `celery_worker.log()` returns what it printed.
"""

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from hub.celery import app as celery_app

READY_TIMEOUT_SECONDS = 90


def _database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _purge_broker() -> None:
    """Leftover messages from an earlier run would reach this worker with stale ids."""
    if settings.REDIS_URL:
        with celery_app.connection_for_write() as conn:
            conn.default_channel.queue_purge("celery")
        return
    queue = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
    for message in queue.glob("*"):
        message.unlink(missing_ok=True)


class WorkerProcess:
    def __init__(self, env: dict[str, str]) -> None:
        self._lines: list[str] = []
        self._ready = threading.Event()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "hub",
                "worker",
                "--pool=solo",
                "--concurrency=1",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                f"--hostname=test-worker-{os.getpid()}@%h",
            ],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.append(line)
            if " ready." in line:
                self._ready.set()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while not self._ready.wait(0.2):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("The Celery worker did not start:\n" + self.log())

    def log(self) -> str:
        return "".join(self._lines)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


@pytest.fixture
def celery_worker(transactional_db):
    _purge_broker()
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "HUB_VAR_DIR": str(settings.VAR_DIR),
        "DJANGO_SETTINGS_MODULE": "hub.settings",
    }
    if settings.REDIS_URL:
        env["REDIS_URL"] = settings.REDIS_URL
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    assert shutil.which(sys.executable)
    worker = WorkerProcess(env)
    worker.wait_ready()
    yield worker
    worker.stop()


def wait_for(predicate, *, timeout: float = 60, interval: float = 0.2, message: str = ""):
    """Poll until predicate() is truthy; fail with the message (and worker log) otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    pytest.fail(message or "condition not met in time")
