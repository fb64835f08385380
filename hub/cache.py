"""Django's Redis cache, keeping its redis-py client instead of building one per call.

Django's RedisCacheClient keeps its connection pools but makes a new `redis.Redis` for
every cache call; that constructor costs most of what the round trip itself costs on
loopback (bench/serving), and the predict endpoint makes a cache call on every request.
A redis-py client is safe to share between threads (each command borrows a connection
from the pool), so one per pool is kept.

`get_many`, which the predict endpoint makes on every request (the API key and the
routing generation, groups/auth.py), goes further: each thread keeps a connection of its
own and sends MGET on it directly. The client's path (the pool's lock to borrow and
return a connection, the retry and argument wrappers) cost as much CPU as the round trip
itself (bench/serving). A connection that fails is dropped, and the error raised as
before (callers fall back to the database); the thread's next call opens a new one.
"""

import os
import threading
from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class _ClientKeepingRedisCacheClient(RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}
        self._local = threading.local()

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client

    def get_many(self, keys: Any) -> dict[Any, Any]:
        keys = list(keys)
        connection = self._thread_connection()
        try:
            connection.send_command("MGET", *keys)
            values = connection.read_response()
        except BaseException:
            self._local.connection = None
            connection.disconnect()
            raise
        loads = self._serializer.loads
        return {
            key: loads(value) for key, value in zip(keys, values, strict=True) if value is not None
        }

    def _thread_connection(self) -> Any:
        connection = getattr(self._local, "connection", None)
        if connection is None or self._local.pid != os.getpid():
            # The pool's settings, but outside the pool: nothing else holds it, so it is
            # closed when its thread ends (a thread per request under runserver) and a
            # forked child (a Celery worker) never writes on its parent's socket.
            pool = self._get_connection_pool(False)
            connection = pool.connection_class(**pool.connection_kwargs)
            self._local.connection, self._local.pid = connection, os.getpid()
        return connection


class HubRedisCache(RedisCache):
    def __init__(self, server: Any, params: dict) -> None:
        super().__init__(server, params)
        self._class = _ClientKeepingRedisCacheClient
