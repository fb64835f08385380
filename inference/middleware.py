"""The predict endpoint's own, shorter middleware chain.

`POST /api/v1/groups/<slug>/predict` with an API key (`Authorization: Bearer ...`) needs
none of what the pages need: no session or CSRF (the key authenticates, and DRF exempts
API views from CSRF), no messages, no CSP or frame headers (a JSON answer is never
rendered as a page), no static files, htmx or login redirects. This middleware, first in
MIDDLEWARE, sends such a request through only the security middleware (HTTPS redirect,
HSTS and nosniff headers) and the NUL check, built once per process, and resolves its URL
against the one route (inference/predict_urls.py); every other request goes down the
whole chain. A session-authenticated call to predict has no Bearer header,
so it still gets the session and CSRF middleware it needs.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from django.core.handlers.base import BaseHandler
from django.core.handlers.exception import convert_exception_to_response
from django.http import HttpRequest, HttpResponse
from django.utils.module_loading import import_string

PREDICT_PATH = re.compile(r"^/api/v1/groups/[^/]+/predict$")
PREDICT_URLCONF = "inference.predict_urls"
LEAN_MIDDLEWARE = (
    "django.middleware.security.SecurityMiddleware",
    "core.middleware.QueryParameterCheck",
)


def _lean_chain() -> Callable[[HttpRequest], HttpResponse]:
    """What BaseHandler.load_middleware builds, for middleware with no view, exception or
    template-response hooks (those listed): URL resolution and the view innermost."""
    handler = BaseHandler()
    handler._view_middleware = []
    handler._template_response_middleware = []
    handler._exception_middleware = []
    chain = convert_exception_to_response(handler._get_response)
    for path in reversed(LEAN_MIDDLEWARE):
        chain = convert_exception_to_response(import_string(path)(chain))
    return chain


class PredictFastPath:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.lean = _lean_chain()

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (
            request.method == "POST"
            and request.META.get("HTTP_AUTHORIZATION", "")[:7].lower() == "bearer "
            and PREDICT_PATH.match(request.path_info)
        ):
            request.urlconf = PREDICT_URLCONF
            return self.lean(request)
        return self.get_response(request)
