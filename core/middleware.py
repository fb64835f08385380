"""Request checks every URL shares, before any view runs."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse

from core.api import error_body


class QueryParameterCheck:
    """A NUL byte in a query parameter is a 400 naming the parameter (PostgreSQL refuses
    NUL in text, so it would otherwise surface as a 500 from deep inside a query)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        bad = sorted(
            {
                name
                for name, values in request.GET.lists()
                if "\x00" in name or any("\x00" in v for v in values)
            }
        )
        if bad:
            message = f"Query parameter {bad[0]!r} contains a NUL byte."
            if request.path_info.startswith("/api/"):
                errors = {name.replace("\x00", "\\0"): ["Contains a NUL byte."] for name in bad}
                return JsonResponse(error_body(message, errors), status=400)
            return HttpResponseBadRequest(message, content_type="text/plain")
        return self.get_response(request)
