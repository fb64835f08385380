"""The Redis cache backend (production): Django's, keeping one redis-py client per pool."""

import threading

import pytest
from django.conf import settings
from django.core.cache import cache

from hub.cache import HubRedisCache

pytestmark = pytest.mark.skipif(
    not settings.REDIS_URL, reason="needs REDIS_URL: the Redis cache backend is used only with it"
)


def test_production_settings_use_the_client_keeping_backend():
    assert settings.CACHES["default"]["BACKEND"] == "hub.cache.HubRedisCache"
    cache.set("test-cache-round-trip", {"a": 1}, 30)
    assert cache.get("test-cache-round-trip") == {"a": 1}


def test_one_client_serves_every_call_and_every_thread():
    backend = HubRedisCache(settings.REDIS_URL, {"KEY_PREFIX": "test-cache"})
    client = backend._cache.get_client()
    assert backend._cache.get_client() is client
    assert backend._cache.get_client(write=True) is client  # one server: one pool, one client

    def write(n: int) -> None:
        backend.set(f"k{n}", n, 30)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert backend.get_many([f"k{n}" for n in range(8)]) == {f"k{n}": n for n in range(8)}
    backend.delete_many([f"k{n}" for n in range(8)])


def test_get_many_reads_on_a_connection_of_the_threads_own_and_recovers_from_a_broken_one():
    backend = HubRedisCache(settings.REDIS_URL, {"KEY_PREFIX": "test-cache-many"})
    backend.set_many({"a": {"x": 1}, "b": [2]}, 30)
    assert backend.get_many(["a", "b", "missing"]) == {"a": {"x": 1}, "b": [2]}
    own = backend._cache._local.connection
    assert backend.get_many(["a"]) == {"a": {"x": 1}}
    assert backend._cache._local.connection is own  # kept by this thread

    seen = {}

    def other() -> None:
        backend.get_many(["a"])
        seen["connection"] = backend._cache._local.connection

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    assert seen["connection"] is not own

    own._sock.close()  # the server went away under this connection
    with pytest.raises(Exception):  # noqa: B017 - redis-py's error, whichever it is
        backend.get_many(["a"])
    assert backend.get_many(["a", "b"]) == {"a": {"x": 1}, "b": [2]}  # a new connection
    backend.delete_many(["a", "b"])


def test_a_threads_connection_is_its_own_and_closed_when_the_thread_ends():
    import gc
    import weakref

    backend = HubRedisCache(settings.REDIS_URL, {"KEY_PREFIX": "test-cache-threads"})
    pool = backend._cache._get_connection_pool(False)
    seen = []

    def read() -> None:
        backend.get_many(["a"])
        seen.append(weakref.ref(backend._cache._local.connection))

    threads = [threading.Thread(target=read) for _ in range(20)]
    for thread in threads:
        thread.start()
        thread.join()
    gc.collect()

    # Not borrowed from the pool (runserver starts a thread per request: a borrowed
    # connection per thread would never go back), and gone with its thread (redis-py
    # disconnects a connection when it is collected).
    assert len(pool._in_use_connections) == 0
    assert len(seen) == 20
    assert all(ref() is None for ref in seen)
