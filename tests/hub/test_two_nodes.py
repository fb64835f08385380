"""Two web nodes (two gunicorn instances on different ports) sharing PostgreSQL and Redis:
a promotion made through one is served by the other on its very next request."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from groups.services import api_key_create, group_delete
from tests.factories import default_team
from tests.inference.serving_factories import credit_rows, serving_group

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.multinode,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql"
        or not settings.CACHES["default"]["BACKEND"].endswith("HubRedisCache"),
        reason="two nodes share PostgreSQL and Redis: run once, on PostgreSQL with REDIS_URL",
    ),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _node_env() -> dict[str, str]:
    database = connection.settings_dict
    url = (
        f"postgres://{database['USER']}:{database['PASSWORD'] or ''}@{database['HOST']}:"
        f"{database['PORT'] or 5432}/{database['NAME']}"  # the test database
    )
    return {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": settings.CACHES["default"]["LOCATION"],
        "CACHE_KEY_PREFIX": settings.CACHES["default"].get("KEY_PREFIX", "hub"),
        "DEBUG": "true",
        "HUB_VAR_DIR": str(settings.VAR_DIR),
        "LOG_LEVEL": "WARNING",
    }


def _start_node(port: int) -> subprocess.Popen:
    command = [
        str(Path(sys.executable).parent / "gunicorn"),
        "hub.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "2",
        "--threads",
        "4",
        "--access-logfile",
        "/dev/null",
    ]
    node = subprocess.Popen(command, cwd=ROOT, env=_node_env(), start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return node
        except urllib.error.HTTPError:
            return node
        except OSError:
            time.sleep(0.3)
    os.killpg(node.pid, signal.SIGKILL)
    raise AssertionError(f"node on {port} did not start")


def _post(port: int, path: str, body: dict, key: str) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


@pytest.fixture
def two_nodes():
    ports = [_free_port(), _free_port()]
    nodes = [_start_node(port) for port in ports]
    yield ports
    for node in nodes:
        os.killpg(node.pid, signal.SIGTERM)
    for node in nodes:
        node.wait(timeout=30)


def test_a_promotion_through_one_node_is_served_by_the_other_on_its_next_request(two_nodes):
    setup = serving_group(name="Two Node Scoring", weights=(100, 0))
    _, manager_key = api_key_create(
        name="two nodes", team=default_team(), scopes=["predict", "manage"], groups=[setup.group]
    )
    node_a, node_b = two_nodes
    predict = f"/api/v1/groups/{setup.group.slug}/predict"
    row = credit_rows(1)[0]
    try:
        # Both nodes (every worker of node B) serve the old champion and cache its routing.
        for port in (node_a, node_b, node_b, node_b, node_b):
            status, answer = _post(port, predict, {"inputs": row}, setup.key)
            assert status == 200, answer
            assert answer["model"]["id"] == setup.champion.pk

        status, change = _post(
            node_a,
            f"/api/v1/groups/{setup.group.slug}/promote",
            {"model_version": setup.challenger.pk, "reason": "two nodes"},
            manager_key,
        )
        assert status == 200, change

        for _ in range(4):  # each of node B's workers, on its next request
            status, answer = _post(node_b, predict, {"inputs": row}, setup.key)
            assert status == 200, answer
            assert answer["model"]["id"] == setup.challenger.pk
            assert answer["role"] == "champion"
    finally:
        group_delete(group=setup.group, actor=None)
