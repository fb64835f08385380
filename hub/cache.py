"""Django's Redis cache, keeping its redis-py client instead of building one per call.

Django's RedisCacheClient keeps its connection pools but makes a new `redis.Redis` for
every cache call; that constructor costs most of what the round trip itself costs on
loopback (bench/serving), and the predict endpoint makes a cache call on every request.
A redis-py client is safe to share between threads (each command borrows a connection
from the pool), so one per pool is kept.
"""

from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class _ClientKeepingRedisCacheClient(RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class HubRedisCache(RedisCache):
    def __init__(self, server: Any, params: dict) -> None:
        super().__init__(server, params)
        self._class = _ClientKeepingRedisCacheClient
