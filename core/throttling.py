"""API rate limits per API key and per user (settings: HUB_THROTTLE_RATE)."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from rest_framework.throttling import SimpleRateThrottle

logger = logging.getLogger(__name__)

# How long a process counts requests on its own before adding them to the shared count.
FLUSH_SECONDS = 0.05


@dataclass
class _Window:
    window: int  # which window of `duration` seconds since the epoch
    shared: int = 0  # the shared count when last flushed (every process's requests)
    unflushed: int = 0  # this process's requests since
    flushing: int = 0  # this process's requests being added to the shared count now
    flushed_at: float = float("-inf")


_windows: dict[str, _Window] = {}
_lock = threading.Lock()


def throttle_counts_clear() -> None:
    """Forget this process's counts (tests: ids, hence buckets, are reused)."""
    with _lock:
        _windows.clear()


class PrincipalRateThrottle(SimpleRateThrottle):
    """One bucket per API key, per signed-in user, or per address when anonymous.

    Counted in fixed windows of the rate's duration in the shared cache, which each
    process updates at most every FLUSH_SECONDS (one `incr` for all its requests since)
    rather than twice per request: DRF's own throttle reads and writes the whole list of
    the bucket's request times on every request, which at thousands a minute costs more
    than the prediction. Across processes the count may lag by FLUSH_SECONDS of traffic.

    A cache that cannot be reached lets the request through: a rate limit must not take the
    API down with Redis (the request is served from the database; see groups/auth.py)."""

    scope = "principal"

    def get_cache_key(self, request, view) -> str:
        grant = getattr(request.user, "grant", None)
        if grant is not None:
            ident = f"key:{grant.id}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"ip:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = time.time()
        window = int(self.now // self.duration)
        with _lock:
            held = _windows.get(self.key)
            if held is None or held.window != window:
                held = _windows[self.key] = _Window(window)
            # A refused request is not counted (as DRF's), but may flush the others.
            allowed = held.shared + held.flushing + held.unflushed < self.num_requests
            held.unflushed += allowed
            count = self._claim(held)
        if count:
            self._flush(held, count)  # outside the lock: no request waits for the cache
        return allowed

    @staticmethod
    def _claim(held: _Window) -> int:
        """The requests this thread adds to the shared count, if a flush is due (one
        thread at a time: the others keep counting meanwhile)."""
        if held.flushing or time.monotonic() - held.flushed_at < FLUSH_SECONDS:
            return 0
        count, held.unflushed, held.flushing = held.unflushed, 0, held.unflushed
        return count

    def _flush(self, held: _Window, count: int) -> None:
        try:
            shared = self._add(f"{self.key}:{held.window}", count)
        except Exception:  # the cache is down: serve rather than refuse
            logger.warning("Rate limit not checked: the cache is unavailable.")
            shared, count_back = 0, count
        else:
            count_back = 0
        with _lock:
            held.shared = shared
            held.unflushed += count_back
            held.flushing = 0
            held.flushed_at = time.monotonic()

    def _add(self, key: str, count: int) -> int:
        """The window's shared count after adding this process's `count`."""
        try:
            return self.cache.incr(key, count)
        except ValueError:  # the window's first flush anywhere
            if self.cache.add(key, count, self.duration * 2):
                return count
            return self.cache.incr(key, count)

    def wait(self) -> float:
        # Until the window ends: when the bucket has room again.
        return self.duration - (self.now % self.duration)
