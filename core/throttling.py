"""API rate limits per API key and per user (settings: HUB_THROTTLE_RATE)."""

from __future__ import annotations

import logging

from rest_framework.throttling import SimpleRateThrottle

logger = logging.getLogger(__name__)


class PrincipalRateThrottle(SimpleRateThrottle):
    """One bucket per API key, per signed-in user, or per address when anonymous.

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
        try:
            return super().allow_request(request, view)
        except Exception:  # the cache is down: serve rather than refuse
            logger.warning("Rate limit not checked: the cache is unavailable.")
            return True
