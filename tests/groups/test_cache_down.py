"""Redis down: API keys and the routing generation fall back to the database (a few
seconds' per-process memo), and a promotion made meanwhile takes effect everywhere.

Uses a PRIVATE redis-server on a free port, stopped and started again: never the shared one.
"""

import shutil
import socket
import subprocess
import time

import pytest
from django.test import override_settings
from django.urls import reverse
from rest_framework.test import APIClient

from groups import routing_cache
from groups.routing_cache import routing_cache_clear, routing_table
from groups.services import group_promote
from tests.groups.factories import group_with_members, make_api_key
from tests.groups.test_auth import authenticate

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server"),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateRedis:
    def __init__(self) -> None:
        self.port = _free_port()
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--bind",
                "127.0.0.1",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("private redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def private_redis():
    server = PrivateRedis()
    server.start()
    caches = {
        "default": {
            "BACKEND": "hub.cache.HubRedisCache",
            "LOCATION": f"redis://127.0.0.1:{server.port}/0",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    with override_settings(CACHES=caches):
        routing_cache_clear()
        yield server
        server.stop()
    routing_cache_clear()


def champion_of(slug: str) -> int:
    return next(m.version_id for m in routing_table(slug).members if m.role == "champion")


def test_keys_and_routing_are_served_from_the_database_while_redis_is_down(
    private_redis, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        group, (champion, challenger) = group_with_members()
    _, plaintext = make_api_key(scopes=("predict", "read"), groups=[group])
    assert authenticate(f"Bearer {plaintext}")[1].group_slugs == {group.slug}
    assert champion_of(group.slug) == champion.pk

    private_redis.stop()
    principal, grant = authenticate(f"Bearer {plaintext}")
    assert grant.group_slugs == {group.slug}
    assert champion_of(group.slug) == champion.pk
    detail = APIClient().get(
        reverse("api-group-detail", kwargs={"slug": group.slug}),
        HTTP_AUTHORIZATION=f"Bearer {plaintext}",
    )
    assert detail.status_code == 200, detail.content

    # Promoted while the cache is down: the database holds the new generation.
    with django_capture_on_commit_callbacks(execute=True):
        group_promote(group=group, model_version=challenger, actor=None)
    assert champion_of(group.slug) == challenger.pk

    private_redis.start()
    assert champion_of(group.slug) == challenger.pk
    assert authenticate(f"Bearer {plaintext}")[1].id == grant.id


def test_a_process_that_never_saw_the_outage_picks_up_the_change_after_it(
    private_redis, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        group, (champion, challenger) = group_with_members()
    assert champion_of(group.slug) == champion.pk  # this process holds the table
    private_redis.stop()
    # Another process promotes while the cache is down (its publish fails).
    with django_capture_on_commit_callbacks(execute=True):
        group_promote(group=group, model_version=challenger, actor=None)
    routing_cache._fallback.clear()
    private_redis.start()
    # The cache restarted empty: the generation is derived from the database again.
    assert champion_of(group.slug) == challenger.pk


def test_the_cached_generation_is_rederived_from_the_database_when_it_expires(
    private_redis, django_capture_on_commit_callbacks
):
    from django.core.cache import cache

    with django_capture_on_commit_callbacks(execute=True):
        group, (champion, challenger) = group_with_members()
    assert champion_of(group.slug) == champion.pk
    stale = cache.get(routing_cache.GENERATION_KEY)
    # A change whose publication was lost: the cache still says the old generation.
    with django_capture_on_commit_callbacks(execute=False):
        group_promote(group=group, model_version=challenger, actor=None)
    assert cache.get(routing_cache.GENERATION_KEY) == stale
    client = cache._cache.get_client()
    assert 0 < client.ttl(cache.make_key(routing_cache.GENERATION_KEY)) <= 10
    cache.delete(routing_cache.GENERATION_KEY)  # what its expiry does
    assert champion_of(group.slug) == challenger.pk
